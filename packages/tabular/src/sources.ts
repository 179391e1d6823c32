/**
 * Sources as steps: data gathering from where teams keep data — a local
 * CSV/JSON/Parquet file (optionally through SQL, with DuckDB), a PostgreSQL
 * query, an S3 object, an HTTP(S) URL — into a `table`. Each source has a
 * cheap fingerprint (file digest; ETag/version; ETag/Last-Modified, else the
 * body's digest; the query text plus a change signal). The step records it as
 * an output and reuses a cached execution only while the source still has
 * that fingerprint, so new data re-runs exactly what depends on it.
 *
 * The drivers (`@duckdb/node-api`, `pg`, `@aws-sdk/client-s3`) load lazily,
 * on first use of their kind of source.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import { CairnError, ErrorCodes, type ErrorIssue, json, type StepDefinition, step } from '@cairn/core';
import { table } from './artifact';
import type { CellValue, Table } from './table';
import { tableFromRows } from './table';

/** How a file's bytes are read. @default from the extension (`.csv`, `.json`, `.parquet`), else csv */
export type SourceFormat = 'csv' | 'json' | 'parquet';

/** A local file, read by DuckDB; `sql` may select from it as `source`. */
export interface FileSource {
  type: 'file';
  /** Relative paths are relative to the project. */
  path: string;
  format?: SourceFormat;
  /** e.g. `select * from source where year >= 2015`. @default `select * from source` */
  sql?: string;
}
/** A PostgreSQL query. */
export interface PostgresSource {
  type: 'postgres';
  /** Connection URL; keep the password in `${env:…}`. */
  url: string;
  query: string;
  /**
   * A cheap query whose result changes when the data does (`select max(updated_at) from sales`).
   * Without it, the fingerprint is the digest of the query's result (the query runs to check the cache).
   */
  changeQuery?: string;
}
/** An object in S3 (or an S3-compatible server). */
export interface S3Source {
  type: 's3';
  bucket: string;
  key: string;
  format?: SourceFormat;
  region?: string;
  /** e.g. `http://127.0.0.1:7480` for an S3-compatible server. */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** @default true when `endpoint` is set */
  forcePathStyle?: boolean;
}
/** An HTTP(S) URL. */
export interface HttpSource {
  type: 'http';
  url: string;
  format?: SourceFormat;
}
export type SourceConfig = FileSource | PostgresSource | S3Source | HttpSource;

/** What a source was when it was read: its kind, where, and the fingerprint the cache compares. */
export interface SourceFingerprint {
  type: SourceConfig['type'];
  /** The path, URL, `s3://bucket/key` or `postgres` (never the connection URL: it may hold a password). */
  location: string;
  /** A digest of what identifies this version of the data. */
  fingerprint: string;
  /** What the fingerprint was made of: `sha256 of the file`, `etag`, `last-modified`, `change query`… */
  basis: string;
  /** A file source's absolute path: the cache check re-reads it there. */
  resolved?: string;
}

const fail = (message: string, cause?: unknown) =>
  new CairnError(ErrorCodes.STEP_FAILED, message, cause === undefined ? {} : { cause });
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The source's fingerprint, without reading it whole where the source tells
 * cheaper (HEAD, HeadObject, a change query).
 */
export async function sourceFingerprint(
  source: SourceConfig,
  projectDir = process.cwd(),
): Promise<SourceFingerprint> {
  switch (source.type) {
    case 'file': {
      const path = isAbsolute(source.path) ? source.path : resolve(projectDir, source.path);
      const digest = await fileDigest(path).catch((cause: NodeJS.ErrnoException) => {
        throw fail(`cannot read the source file ${source.path}: ${cause.code ?? cause.message}`, cause);
      });
      return {
        type: 'file',
        location: source.path,
        fingerprint: sha(`${digest}\n${source.sql ?? ''}`),
        basis: 'sha256 of the file',
        resolved: path,
      };
    }
    case 'http': {
      const head = await fetch(source.url, { method: 'HEAD' }).catch((cause) => {
        throw fail(`cannot reach ${source.url}: ${(cause as Error).message}`, cause);
      });
      const etag = head.ok ? head.headers.get('etag') : null;
      const modified = head.ok ? head.headers.get('last-modified') : null;
      if (etag)
        return { type: 'http', location: source.url, fingerprint: sha(`etag:${etag}`), basis: 'etag' };
      if (modified)
        return {
          type: 'http',
          location: source.url,
          fingerprint: sha(`last-modified:${modified}`),
          basis: 'last-modified',
        };
      // No validator from the server: the body's digest is the only honest answer.
      const dir = await mkdtemp(join(tmpdir(), 'cairn-source-'));
      try {
        const file = await download(source.url, join(dir, 'body'));
        return {
          type: 'http',
          location: source.url,
          fingerprint: await fileDigest(file),
          basis: 'sha256 of the body',
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    case 's3': {
      const { client, HeadObjectCommand } = await s3Client(source);
      try {
        const head = await client
          .send(new HeadObjectCommand({ Bucket: source.bucket, Key: source.key }))
          .catch((cause: Error) => {
            throw fail(`cannot read s3://${source.bucket}/${source.key}: ${cause.name}`, cause);
          });
        const basis = head.VersionId ? 'version id and etag' : 'etag';
        return {
          type: 's3',
          location: `s3://${source.bucket}/${source.key}`,
          fingerprint: sha(`${head.VersionId ?? ''}\n${head.ETag ?? ''}`),
          basis,
        };
      } finally {
        client.destroy();
      }
    }
    case 'postgres': {
      const signal = source.changeQuery
        ? { rows: await pgQuery(source.url, source.changeQuery), basis: 'change query' }
        : { rows: await pgQuery(source.url, source.query), basis: 'sha256 of the result' };
      return {
        type: 'postgres',
        location: 'postgres',
        fingerprint: sha(`${source.query}\n${JSON.stringify(signal.rows, jsonSafe)}`),
        basis: signal.basis,
      };
    }
  }
}

/** Read the source into a table. Files stream into DuckDB; nothing is read whole synchronously. */
export async function readSource(source: SourceConfig, projectDir = process.cwd()): Promise<Table> {
  switch (source.type) {
    case 'file': {
      const path = isAbsolute(source.path) ? source.path : resolve(projectDir, source.path);
      return readWithDuckDb(path, source.format ?? formatOf(path), source.sql);
    }
    case 'postgres':
      return tableFromRows(normalizeRows(await pgQuery(source.url, source.query)));
    case 'http':
    case 's3': {
      const dir = await mkdtemp(join(tmpdir(), 'cairn-source-'));
      try {
        const name = source.type === 'http' ? new URL(source.url).pathname : source.key;
        const format = source.format ?? formatOf(name);
        const file = join(dir, `data.${format}`);
        if (source.type === 'http') await download(source.url, file);
        else await downloadS3(source, file);
        return await readWithDuckDb(file, format);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
}

function formatOf(path: string): SourceFormat {
  const ext = extname(path).toLowerCase();
  return ext === '.json' || ext === '.ndjson' ? 'json' : ext === '.parquet' ? 'parquet' : 'csv';
}

async function readWithDuckDb(path: string, format: SourceFormat, sql?: string): Promise<Table> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = { csv: 'read_csv_auto', json: 'read_json_auto', parquet: 'read_parquet' }[format];
    const literal = `'${path.replaceAll("'", "''")}'`;
    await connection.run(`create view source as select * from ${reader}(${literal})`);
    const result = await connection.runAndReadAll(sql ?? 'select * from source');
    return tableFromRows(normalizeRows(result.getRowObjectsJS()));
  } catch (cause) {
    if (CairnError.is(cause)) throw cause;
    throw fail(`cannot read ${path} as ${format}: ${(cause as Error).message.split('\n')[0]}`, cause);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** DuckDB and pg give bigints, decimals as strings, and dates as objects: cells become numbers, strings, booleans or Dates. */
function normalizeRows(rows: ReadonlyArray<Record<string, unknown>>): Array<Record<string, CellValue>> {
  return rows.map((row) => {
    const out: Record<string, CellValue> = {};
    for (const [key, value] of Object.entries(row)) {
      if (value === null || value === undefined) out[key] = null;
      else if (typeof value === 'bigint') out[key] = Number(value);
      else if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
        out[key] = value;
      else if (value instanceof Date) out[key] = value;
      else out[key] = String(value);
    }
    return out;
  });
}

const jsonSafe = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);

async function download(url: string, file: string): Promise<string> {
  const response = await fetch(url).catch((cause) => {
    throw fail(`cannot reach ${url}: ${(cause as Error).message}`, cause);
  });
  if (!response.ok || !response.body) throw fail(`cannot download ${url}: HTTP ${response.status}`);
  await pipe(Readable.fromWeb(response.body as never), createWriteStream(file));
  return file;
}

async function s3Client(source: S3Source) {
  const sdk = await import('@aws-sdk/client-s3');
  const client = new sdk.S3Client({
    region: source.region ?? 'us-east-1',
    ...(source.endpoint ? { endpoint: source.endpoint } : {}),
    forcePathStyle: source.forcePathStyle ?? source.endpoint !== undefined,
    ...(source.accessKeyId && source.secretAccessKey
      ? { credentials: { accessKeyId: source.accessKeyId, secretAccessKey: source.secretAccessKey } }
      : {}),
    // S3-compatible servers (radosgw) do not all speak the newer checksum headers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { client, HeadObjectCommand: sdk.HeadObjectCommand, GetObjectCommand: sdk.GetObjectCommand };
}

async function downloadS3(source: S3Source, file: string): Promise<void> {
  const { client, GetObjectCommand } = await s3Client(source);
  try {
    const object = await client
      .send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }))
      .catch((cause: Error) => {
        throw fail(`cannot read s3://${source.bucket}/${source.key}: ${cause.name}`, cause);
      });
    await pipe(object.Body as NodeJS.ReadableStream, createWriteStream(file));
  } finally {
    client.destroy();
  }
}

async function pgQuery(url: string, query: string): Promise<Array<Record<string, unknown>>> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return (await client.query(query)).rows;
  } catch (cause) {
    // The message names neither the URL nor its password.
    throw fail(`PostgreSQL source: ${(cause as Error).message}`, cause);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The config schema of a source step: a Standard Schema over {@link SourceConfig}. */
const sourceConfig: NonNullable<StepDefinition<SourceConfig, {}, {}>['config']> = {
  '~standard': {
    version: 1,
    vendor: 'cairn',
    validate(value) {
      const issues = sourceIssues(value);
      return issues.length > 0
        ? { issues: issues.map((i) => ({ message: i.message, path: (i.path ?? []) as PropertyKey[] })) }
        : { value: value as SourceConfig };
    },
  },
};

const FIELDS: Record<SourceConfig['type'], { required: string[]; optional: string[] }> = {
  file: { required: ['path'], optional: ['format', 'sql'] },
  postgres: { required: ['url', 'query'], optional: ['changeQuery'] },
  s3: {
    required: ['bucket', 'key'],
    optional: ['format', 'region', 'endpoint', 'accessKeyId', 'secretAccessKey', 'forcePathStyle'],
  },
  http: { required: ['url'], optional: ['format'] },
};

/** Every problem of a source config: unknown type, missing or unknown keys, wrong value types. */
export function sourceIssues(value: unknown): ErrorIssue[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return [{ message: 'expected a mapping with type: file | postgres | s3 | http' }];
  const config = value as Record<string, unknown>;
  const fields = FIELDS[config.type as SourceConfig['type']];
  if (!fields) return [{ path: ['type'], message: 'expected one of file, postgres, s3, http' }];
  const issues: ErrorIssue[] = [];
  for (const key of fields.required)
    if (typeof config[key] !== 'string' || (config[key] as string).length === 0)
      issues.push({ path: [key], message: `required for a ${config.type} source: a non-empty string` });
  for (const key of Object.keys(config)) {
    if (key === 'type' || fields.required.includes(key)) continue;
    if (!fields.optional.includes(key)) {
      issues.push({ path: [key], message: `unknown key for a ${config.type} source` });
      continue;
    }
    if (key === 'format') {
      if (!['csv', 'json', 'parquet'].includes(config[key] as string))
        issues.push({ path: [key], message: 'expected csv, json or parquet' });
    } else if (key === 'forcePathStyle') {
      if (typeof config[key] !== 'boolean') issues.push({ path: [key], message: 'expected true or false' });
    } else if (typeof config[key] !== 'string') issues.push({ path: [key], message: 'expected a string' });
  }
  return issues;
}

/**
 * A data-gathering step over a {@link SourceConfig} (its config file,
 * `conf/base/<name>.yaml`, says `type:` and where). Outputs the `data` table
 * and the `source` fingerprint; a cached execution is reused only while the
 * source's current fingerprint is the recorded one.
 *
 * @example
 * ```ts
 * export const ingest = sourceStep('ingest');
 * // conf/base/ingest.yaml
 * // type: postgres
 * // url: ${env:DATABASE_URL}
 * // query: select * from sales where day > now() - interval '2 years'
 * // changeQuery: select max(updated_at) from sales
 * ```
 */
export function sourceStep(name = 'ingest') {
  return step({
    name,
    description: 'Read a data source (file, PostgreSQL, S3, HTTP) into a table',
    config: sourceConfig,
    outputs: { data: table(), source: json<SourceFingerprint>() },
    async reuse({ outputs, config }) {
      try {
        // A relative file path is checked where the run read it (the cache check has no project folder).
        const current =
          config.type === 'file' && outputs.source.resolved
            ? { ...config, path: outputs.source.resolved }
            : config;
        const now = await sourceFingerprint(current);
        return now.fingerprint === outputs.source.fingerprint;
      } catch {
        return false;
      }
    },
    async run({ config, projectDir, log }) {
      const fingerprint = await sourceFingerprint(config, projectDir);
      const data = await readSource(config, projectDir);
      log.info(`read ${data.numRows} rows from ${fingerprint.location} (${fingerprint.basis})`);
      return { data, source: fingerprint };
    },
  });
}
