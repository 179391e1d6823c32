import type { ArtifactRecord, MetadataStore, StorageDriver } from '@cairn/core';
import { usageError } from './errors';

export { withProject } from './project';

/** A full digest from a full digest or a unique prefix of at least 6 characters. */
export async function resolveDigest(metadata: MetadataStore, value: string): Promise<string> {
  const digest = value.replace(/^sha256:/, '').toLowerCase();
  if (/^[0-9a-f]{64}$/.test(digest)) return digest;
  if (!/^[0-9a-f]{6,63}$/.test(digest)) {
    throw usageError(
      `"${value}" is not an artifact digest: expected 64 hex characters or a prefix of at least 6`,
    );
  }
  const matches = (await metadata.listArtifacts({ limit: 100_000 })).filter((a) =>
    a.digest.startsWith(digest),
  );
  if (matches.length === 1) return matches[0]!.digest;
  if (matches.length === 0)
    throw usageError(`No artifact digest starts with ${digest}`, {
      hint: 'List artifacts with `cairn artifacts`.',
    });
  throw usageError(`${digest} is ambiguous: ${matches.length} artifacts start with it`, {
    hint: 'Give more characters.',
  });
}

/** Read a small stored artifact (a config, metrics) as JSON. */
export async function readJsonArtifact(storage: StorageDriver, digest: string): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await storage.get(digest)) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export function describeProducer(record: ArtifactRecord): string {
  return record.producer
    ? `${record.producer.step}.${record.producer.output} (run ${record.producer.runId})`
    : '-';
}
