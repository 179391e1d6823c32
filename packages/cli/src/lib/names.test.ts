import { describe, expect, it } from 'vitest';
import { nameForms, npmNameProblems } from './names';
import { satisfies } from './semver';

describe('names', () => {
  it('accepts valid npm names and refuses invalid ones', () => {
    for (const ok of ['churn-model', '@acme/storage-gcs', 'a', 'x.y_z'])
      expect(npmNameProblems(ok), ok).toEqual([]);
    for (const bad of ['', 'Bad', '.x', '_x', 'a b', 'fs', 'node_modules', '@acme', 'a~b', 'x'.repeat(215)]) {
      expect(npmNameProblems(bad).length, bad).toBeGreaterThan(0);
    }
  });

  it('derives every name form from one source', () => {
    expect(nameForms('@acme/storage-gcs')).toEqual({
      package: '@acme/storage-gcs',
      kebab: 'storage-gcs',
      camel: 'storageGcs',
      pascal: 'StorageGcs',
      title: 'Storage Gcs',
    });
    expect(nameForms('3d_model').camel).toBe('_3dModel');
  });

  it('checks peer ranges', () => {
    expect(satisfies('0.1.4', '^0.1.0')).toBe(true);
    expect(satisfies('0.2.0', '^0.1.0')).toBe(false);
    expect(satisfies('1.4.0', '>=1.2 <2')).toBe(true);
    expect(satisfies('2.0.0', '^1.0.0 || ^2.0.0')).toBe(true);
    expect(satisfies('1.0.0', '~0.9')).toBe(false);
  });
});
