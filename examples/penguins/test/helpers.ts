import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactRef, MetadataStore, StorageDriver } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import {
  localStore,
  materializeArtifact,
  type RunOptions,
  type RunResult,
  runPipeline,
} from '@cairn/runtime';
import { table } from '@cairn/tabular';
import { training } from '../pipelines/training';

/** The example project folder (its conf/ is what runs use). */
export const projectDir = dirname(dirname(fileURLToPath(import.meta.url)));

/** A throwaway stack: artifacts and a SQLite metadata file in a temp folder. */
export interface Sandbox {
  dir: string;
  storage: StorageDriver;
  metadata: MetadataStore;
  run(options?: Partial<RunOptions>): Promise<RunResult>;
  /** Unpack a stored artifact into a fresh folder (tree) or give its file (blob). */
  materialize(ref: ArtifactRef, form: 'blob' | 'tree'): Promise<string>;
  readJson<T>(ref: ArtifactRef): Promise<T>;
  readTable<Row extends object>(ref: ArtifactRef): Promise<Row[]>;
  dispose(): Promise<void>;
}

let counter = 0;

export async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-penguins-'));
  const storage = localStore({ dir: join(dir, 'artifacts') });
  const metadata = sqliteMetadata({ file: join(dir, 'metadata.db') });
  const materialize = (ref: ArtifactRef, form: 'blob' | 'tree') =>
    materializeArtifact(storage, ref, form, join(dir, 'out', `${counter++}`));
  return {
    dir,
    storage,
    metadata,
    run: (options = {}) =>
      runPipeline(training, { storage, metadata, projectDir, tmpDir: join(dir, 'tmp'), ...options }),
    materialize,
    async readJson<T>(ref: ArtifactRef) {
      return JSON.parse(await readFile(await materialize(ref, 'blob'), 'utf8')) as T;
    },
    async readTable<Row extends object>(ref: ArtifactRef) {
      const path = await materialize(ref, 'blob');
      const value = await table<Row>().deserialize({ path, ...ref }, { workdir: dir, name: 'table' });
      return value.rows();
    },
    async dispose() {
      await (metadata as { close?: () => Promise<void> }).close?.();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
