import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { file, json } from '@cairn/core';
import { z } from 'zod';
import { pythonStep } from '../src/python-step';

/** Which file was read, and its digest: the source's fingerprint. */
export interface SourceFingerprint {
  path: string;
  /** The absolute path the digest was taken of. */
  resolved: string;
  sha256: string;
}

/**
 * Data gathering (python/ingest.py): the data file of conf/base/ingest.yaml
 * as a clean CSV. A cached result is reused only while the file keeps its
 * digest, so replacing the data re-runs exactly what depends on it.
 */
export const ingest = pythonStep({
  name: 'ingest',
  description: 'Read the data set into a CSV',
  script: 'python/ingest.py',
  config: z.strictObject({
    /** CSV (header row) or JSON (an array of row objects); relative to the project. */
    path: z.string().min(1).max(4096),
    /** Field texts that mean "no value". */
    missing: z.array(z.string().max(64)).max(100).default(['', 'NA']),
  }),
  outputs: { data: file(), source: json<SourceFingerprint>() },
  async reuse({ outputs }) {
    const bytes = await readFile(outputs.source.resolved).catch(() => undefined);
    return bytes !== undefined && createHash('sha256').update(bytes).digest('hex') === outputs.source.sha256;
  },
});
