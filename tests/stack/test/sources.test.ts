import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type CairnEvent, pipeline } from '@cairn/core';
import { localStore, runPipeline } from '@cairn/runtime';
import { type SourceConfig, sourceFingerprint, sourceStep } from '@cairn/tabular';
import { memoryMetadata } from '@cairn/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
// Type-only: brings in the harnesses' `inject('s3')` / `inject('pgUrl')` declarations.
import type {} from '../../../plugins/metadata-postgres/test/global-setup';
import type {} from '../../../plugins/storage-s3/test/server';

// Sources as steps against the real servers the harnesses start: PostgreSQL and radosgw.
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-stack-sources-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs a one-step pipeline reading `source`; says whether ingest executed or was cached, and the row count. */
async function ingestOnce(name: string, source: SourceConfig, metadata = memoryMetadata()) {
  const only = pipeline(name, () => {
    sourceStep('ingest')();
  });
  const events: CairnEvent[] = [];
  const result = await runPipeline(only, {
    storage: localStore({ dir: join(dir, 'artifacts') }),
    metadata,
    projectDir: dir,
    configs: { ingest: source },
    onEvent: (e) => events.push(e),
  });
  expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
  const outcome = events.find((e) => e.type === 'step.succeeded' || e.type === 'step.cached')!.type;
  const log = events.find((e) => e.type === 'step.log') as { message?: string } | undefined;
  return { outcome, log: log?.message ?? '' };
}

describe('a PostgreSQL query as a source', () => {
  const url = () => inject('pgUrl');
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: url() });
    await client.connect();
    await client.query('drop table if exists readings');
    await client.query(
      'create table readings (id serial primary key, station text not null, value double precision, updated_at timestamptz not null default now())',
    );
    await client.query("insert into readings (station, value) values ('a', 1.5), ('b', 2.5), ('a', 3)");
  });
  afterAll(async () => {
    await client.end();
  });

  it('re-runs ingest when the change query moves, and is cached while it does not', async () => {
    const metadata = memoryMetadata();
    const source: SourceConfig = {
      type: 'postgres',
      url: url(),
      query: 'select station, value from readings order by id',
      changeQuery: 'select count(*) as n, max(updated_at) as at from readings',
    };
    const first = await ingestOnce('pg-source', source, metadata);
    expect(first).toMatchObject({ outcome: 'step.succeeded' });
    expect(first.log).toMatch(/read 3 rows from postgres \(change query\)/);
    expect(first.log).not.toContain(url());
    expect((await ingestOnce('pg-source', source, metadata)).outcome).toBe('step.cached');
    await client.query("insert into readings (station, value) values ('c', 9)");
    const changed = await ingestOnce('pg-source', source, metadata);
    expect(changed.outcome).toBe('step.succeeded');
    expect(changed.log).toMatch(/read 4 rows/);
    expect((await ingestOnce('pg-source', source, metadata)).outcome).toBe('step.cached');
  });

  it('without a change query, fingerprints the result: an update that changes no count still shows', async () => {
    const source: SourceConfig = {
      type: 'postgres',
      url: url(),
      query: 'select station, value from readings order by id',
    };
    const before = await sourceFingerprint(source);
    expect(before.basis).toBe('sha256 of the result');
    expect((await sourceFingerprint(source)).fingerprint).toBe(before.fingerprint);
    await client.query("update readings set value = 42 where station = 'b'");
    expect((await sourceFingerprint(source)).fingerprint).not.toBe(before.fingerprint);
  });
});

describe('an S3 object as a source (radosgw)', () => {
  it('re-runs ingest when the object changes (its ETag), and is cached while it does not', async () => {
    const s3 = inject('s3');
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const key = `sources/${Date.now()}/readings.csv`;
    const put = (body: string) =>
      client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    await put('station,value\na,1.5\nb,2.5\n');
    const source: SourceConfig = {
      type: 's3',
      bucket: s3.bucket,
      key,
      endpoint: s3.endpoint,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    };
    const metadata = memoryMetadata();
    const first = await ingestOnce('s3-source', source, metadata);
    expect(first.outcome).toBe('step.succeeded');
    expect(first.log).toMatch(/read 2 rows from s3:\/\/.*readings\.csv \(etag\)/);
    expect((await ingestOnce('s3-source', source, metadata)).outcome).toBe('step.cached');
    await put('station,value\na,1.5\nb,2.5\nc,4\n');
    const changed = await ingestOnce('s3-source', source, metadata);
    expect(changed.outcome).toBe('step.succeeded');
    expect(changed.log).toMatch(/read 3 rows/);
    client.destroy();
  });
});
