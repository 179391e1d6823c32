/**
 * Models for the deploy-local tests: `test/offset` answers `sum(row) + offset`,
 * so the version that answered shows in the value. A row `['explode']` makes
 * it throw a plain error (a model failure, HTTP 500); any other non-numeric
 * row is bad input (HTTP 400).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CairnError,
  ErrorCodes,
  type ModelLoader,
  type ModelVersionRef,
  model,
  type StorageDriver,
} from '@cairn/core';
import { storeArtifact } from '@cairn/runtime';

export const FLAVOR = 'test/offset';

/** What version `n` answers for the row `[1, 2]`. */
export const answerOf = (version: number) => 3 + 1000 * version;

export interface Loaded {
  /** Predictors closed so far. */
  closed: number;
  loaders: Record<string, ModelLoader>;
}

export function offsetLoaders(): Loaded {
  const state: Loaded = {
    closed: 0,
    loaders: {
      [FLAVOR]: (bundle) => {
        const offset = Number(new TextDecoder().decode(bundle.files['offset.txt'] as Uint8Array));
        return {
          predict: (rows) =>
            rows.map((row, i) => {
              if (Array.isArray(row) && row[0] === 'explode') throw new Error('the model fell over');
              if (!Array.isArray(row) || !row.every((x) => typeof x === 'number')) {
                throw new CairnError(ErrorCodes.DATA_INVALID, `row ${i} is not an array of numbers`);
              }
              return row.reduce((sum: number, x: number) => sum + x, offset);
            }),
          close: () => {
            state.closed++;
          },
        };
      },
    },
  };
  return state;
}

/** Store versions 1..n of `test/offset` (offset = 1000 × version). */
export async function storeVersions(storage: StorageDriver, n: number): Promise<ModelVersionRef[]> {
  const workdir = await mkdtemp(join(tmpdir(), 'cairn-deploy-local-models-'));
  try {
    const refs: ModelVersionRef[] = [];
    for (let version = 1; version <= n; version++) {
      const serialized = await model().serialize(
        {
          manifest: { flavor: FLAVOR, signature: { inputs: [], outputs: [] } },
          files: { 'offset.txt': String(1000 * version) },
        },
        { workdir, name: `v${version}` },
      );
      const { digest } = await storeArtifact(storage, serialized);
      refs.push({ model: 'offset', version, digest });
    }
    return refs;
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}
