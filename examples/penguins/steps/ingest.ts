import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { CairnError, ErrorCodes, json, step } from '@cairn/core';
import { describeTable, table, tableFromCsv, tableFromJson } from '@cairn/tabular';
import { z } from 'zod';
import type { Row } from '../src/row';

const config = z.strictObject({
  /** CSV (header row) or JSON (an array of row objects) file; relative paths are relative to the project. */
  path: z.string().min(1).max(4096),
  /** Field texts that mean "no value" (CSV). */
  missing: z.array(z.string().max(64)).max(100).default(['', 'NA']),
});

/** Which file was read, and its digest: the source's fingerprint. */
export interface SourceFingerprint {
  path: string;
  /** The absolute path the digest was taken of (a moved project re-reads its data). */
  resolved: string;
  sha256: string;
  bytes: number;
}

async function fingerprint(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Data gathering: read the CSV or JSON file into a `table` (Apache Arrow),
 * types detected per column, missing markers as nulls. The file's digest is
 * an output, and a cached run is reused only while the file still has that
 * digest, so replacing the data re-runs exactly what depends on it (and
 * nothing downstream when the rows came out the same).
 */
export const ingest = step({
  name: 'ingest',
  description: 'Read the data set into a table',
  config,
  outputs: { data: table<Row>(), source: json<SourceFingerprint>() },
  async reuse({ outputs }) {
    try {
      return (await fingerprint(outputs.source.resolved)).sha256 === outputs.source.sha256;
    } catch {
      return false;
    }
  },
  async run({ config, projectDir, log }) {
    const resolved = isAbsolute(config.path) ? config.path : resolve(projectDir, config.path);
    const { sha256, bytes } = await fingerprint(resolved).catch((cause: NodeJS.ErrnoException) => {
      throw new CairnError(
        ErrorCodes.ARTIFACT_NOT_FOUND,
        `cannot read the data file ${config.path}: ${cause.code ?? cause.message}`,
        { cause, hint: 'Check `path` in conf/base/ingest.yaml (or live.yaml).' },
      );
    });
    const data =
      extname(resolved).toLowerCase() === '.json'
        ? tableFromJson<Row>(resolved)
        : tableFromCsv<Row>(resolved, { nullValues: config.missing });
    const { columns } = describeTable(data);
    log.info(`read ${data.numRows} rows from ${config.path}`, {
      columns: Object.fromEntries(columns.map((c) => [c.name, `${c.type}, ${c.nulls} missing`])),
    });
    return { data, source: { path: config.path, resolved, sha256, bytes } };
  },
});
