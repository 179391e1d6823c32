import { describe, expect, it } from 'vitest';
import { parseFlatLayer, parseLayerFile } from './layers';

/** What the full YAML parser gives, by asking parseLayerFile with a text the fast path refuses. */
function viaParser(text: string) {
  // A leading document marker is valid YAML that the fast path always hands to the parser.
  const parsed = parseLayerFile(`---\n${text}`, 'conf/base/x.yaml');
  if (!('layer' in parsed)) throw new Error(JSON.stringify(parsed.problems));
  // The marker shifts every line by one.
  return {
    value: parsed.layer.value,
    lines: new Map([...parsed.layer.lines].map(([k, line]) => [k, line === undefined ? line : line - 1])),
  };
}

describe('parseFlatLayer', () => {
  const flat = [
    '',
    '\n\n',
    '# only a comment\n',
    'seed: 3\n',
    'seed: -12\nrate: 0.25\nname: forest\n',
    'enabled: true\nverbose: false # a comment\n',
    'answer: yes\nmode: on\nlabel: Infinity\n',
    'a: 1\r\nb: 2\r\n',
    'weird-key_1: value-2\n',
  ];
  for (const text of flat) {
    it(`reads ${JSON.stringify(text)} as the YAML parser does`, () => {
      const layer = parseFlatLayer(text, 'conf/base/x.yaml');
      expect(layer).toBeDefined();
      const expected = viaParser(text);
      expect(layer!.value).toEqual(expected.value);
      expect(layer!.lines).toEqual(expected.lines);
    });
  }

  const refused = [
    'a:\n  b: 1\n',
    'a: [1, 2]\n',
    'a: "quoted"\n',
    'a: null\n',
    'a: ~\n',
    'a: .inf\n',
    'a: 0x1f\n',
    'a: 1e3\n',
    'a: 007\n',
    'a: 1\na: 2\n',
    '---\na: 1\n',
    'a: &x 1\n',
    '  a: 1\n',
    'a: b#c\n',
    '- 1\n',
    'a: 12345678901234567890\n',
  ];
  for (const text of refused) {
    it(`hands ${JSON.stringify(text)} to the YAML parser`, () => {
      expect(parseFlatLayer(text, 'conf/base/x.yaml')).toBeUndefined();
    });
  }

  it('keeps the parser’s errors for what it refuses', () => {
    const parsed = parseLayerFile('a: 1\na: 2\n', 'conf/base/x.yaml');
    expect('problems' in parsed).toBe(true);
  });
});
