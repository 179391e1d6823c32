import { describe, expect, it } from 'vitest';
import { fit, predict, split } from './train';

const rows = [
  { kind: 'small', x: 1, y: 10 },
  { kind: 'small', x: 2, y: 11 },
  { kind: 'big', x: 10, y: 50 },
  { kind: 'big', x: 11, y: 52 },
];

describe('train', () => {
  it('holds out every n-th row', () => {
    const { train, holdout } = split(rows, 2);
    expect(train).toEqual([rows[0], rows[2]]);
    expect(holdout).toEqual([rows[1], rows[3]]);
  });

  it('predicts the class of the nearest centroid', () => {
    const model = fit(rows, 'kind', ['x', 'y']);
    expect(predict(model, { x: 1.5, y: 10 })).toBe('small');
    expect(predict(model, { x: 12, y: 49 })).toBe('big');
  });
});
