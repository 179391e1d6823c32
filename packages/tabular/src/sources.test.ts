import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CairnEvent, ErrorCodes, pipeline } from '@cairn/core';
import { localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readSource, sourceFingerprint, sourceIssues, sourceStep } from './sources';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-sources-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CSV = 'day,temp,kind\n2024-01-01,3.5,rain\n2024-01-02,7,sun\n2024-01-03,,fog\n';

describe('file sources (DuckDB)', () => {
  it('reads CSV, JSON and Parquet into the same table, and SQL over the file', async () => {
    await writeFile(join(dir, 'd.csv'), CSV);
    await writeFile(
      join(dir, 'd.json'),
      JSON.stringify([
        { day: '2024-01-01', temp: 3.5, kind: 'rain' },
        { day: '2024-01-02', temp: 7, kind: 'sun' },
        { day: '2024-01-03', temp: null, kind: 'fog' },
      ]),
    );
    // The Parquet file is written by DuckDB itself from the CSV.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    await connection.run(
      `copy (select * from read_csv_auto('${join(dir, 'd.csv')}')) to '${join(dir, 'd.parquet')}' (format parquet)`,
    );
    connection.closeSync();
    db.closeSync();
    for (const file of ['d.csv', 'd.json', 'd.parquet']) {
      const data = await readSource({ type: 'file', path: file }, dir);
      expect(data.numRows, file).toBe(3);
      expect(data.column('kind'), file).toEqual(['rain', 'sun', 'fog']);
      expect(data.column('temp')[1], file).toBe(7);
      expect(data.column('temp')[2], file).toBeNull();
    }
    const sunny = await readSource(
      { type: 'file', path: 'd.csv', sql: "select kind, temp from source where kind <> 'fog'" },
      dir,
    );
    expect(sunny.numRows).toBe(2);
    expect(sunny.columnNames).toEqual(['kind', 'temp']);
  });

  it('fingerprints a file by its bytes and the SQL', async () => {
    await writeFile(join(dir, 'd.csv'), CSV);
    const a = await sourceFingerprint({ type: 'file', path: 'd.csv' }, dir);
    const digest = createHash('sha256')
      .update(await readFile(join(dir, 'd.csv')))
      .digest('hex');
    expect(a.fingerprint).toBe(createHash('sha256').update(`${digest}\n`).digest('hex'));
    const withSql = await sourceFingerprint({ type: 'file', path: 'd.csv', sql: 'select 1' }, dir);
    expect(withSql.fingerprint).not.toBe(a.fingerprint);
    await expect(sourceFingerprint({ type: 'file', path: 'none.csv' }, dir)).rejects.toMatchObject({
      code: ErrorCodes.STEP_FAILED,
    });
  });

  it('checks its config: type, required and unknown keys, formats', () => {
    expect(sourceIssues({ type: 'file', path: 'd.csv' })).toEqual([]);
    expect(sourceIssues({ type: 'ftp' })[0]!.path).toEqual(['type']);
    expect(sourceIssues({ type: 'postgres', url: 'postgres://x' }).map((i) => i.path)).toEqual([['query']]);
    expect(sourceIssues({ type: 'http', url: 'http://x', fromat: 'csv' })[0]!.message).toMatch(/unknown key/);
    expect(sourceIssues({ type: 's3', bucket: 'b', key: 'k', format: 'xlsx' })[0]!.path).toEqual(['format']);
  });
});

describe('HTTP sources, from a local server', () => {
  let server: Server;
  let base: string;
  const body = { current: CSV };
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const headers: Record<string, string> = { 'content-type': 'text/csv' };
      const hash = createHash('sha256').update(body.current).digest('hex').slice(0, 16);
      if (req.url === '/etag.csv') headers.etag = `"${hash}"`;
      if (req.url === '/modified.csv')
        headers['last-modified'] = new Date(Date.UTC(2024, 0, 1)).toUTCString();
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body.current);
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((closed) => server.close(() => closed())));

  it('fingerprints by ETag, else Last-Modified (HEAD only), else the body digest', async () => {
    requests.length = 0;
    const etag = await sourceFingerprint({ type: 'http', url: `${base}/etag.csv` });
    expect(etag.basis).toBe('etag');
    const modified = await sourceFingerprint({ type: 'http', url: `${base}/modified.csv` });
    expect(modified.basis).toBe('last-modified');
    expect(requests).toEqual(['HEAD /etag.csv', 'HEAD /modified.csv']);
    const plain = await sourceFingerprint({ type: 'http', url: `${base}/plain.csv` });
    expect(plain.basis).toBe('sha256 of the body');
    expect(plain.fingerprint).toBe(createHash('sha256').update(CSV).digest('hex'));
    const data = await readSource({ type: 'http', url: `${base}/plain.csv` });
    expect(data.numRows).toBe(3);
  });

  it('as a step: an unchanged source is cached, a changed one re-runs ingest', async () => {
    const ingest = sourceStep('ingest');
    const only = pipeline('http-source', () => {
      ingest();
    });
    const storage = localStore({ dir: join(dir, 'artifacts') });
    const metadata = memoryMetadata();
    const run = async () => {
      const events: CairnEvent[] = [];
      const result = await runPipeline(only, {
        storage,
        metadata,
        projectDir: dir,
        configs: { ingest: { type: 'http', url: `${base}/etag.csv` } },
        onEvent: (e) => events.push(e),
      });
      expect(result.status).toBe('succeeded');
      return events.filter((e) => e.type === 'step.succeeded' || e.type === 'step.cached').map((e) => e.type);
    };
    body.current = CSV;
    expect(await run()).toEqual(['step.succeeded']);
    expect(await run()).toEqual(['step.cached']);
    body.current = `${CSV}2024-01-04,9,sun\n`;
    expect(await run()).toEqual(['step.succeeded']);
    expect(await run()).toEqual(['step.cached']);
  });

  it('refuses a bad source config before anything runs', async () => {
    const only = pipeline('bad-source', () => {
      sourceStep('ingest')();
    });
    await expect(
      runPipeline(only, {
        storage: localStore({ dir: join(dir, 'artifacts') }),
        metadata: memoryMetadata(),
        projectDir: dir,
        configs: { ingest: { type: 'http' } },
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
  });
});
