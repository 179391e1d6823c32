// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn } from '../helpers';
import { safetyProject } from './project';

const SECRET = 's3cr3t-Pa55w0rd-4711';

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesContaining(path, needle));
    else if (statSync(path).isFile() && readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

describe('a step that fails with a resolved secret in its message (SQLite metadata)', () => {
  let dir: string;
  let human: Awaited<ReturnType<typeof cairn>>;
  let events: Awaited<ReturnType<typeof cairn>>;
  beforeAll(async () => {
    dir = await safetyProject('secrets');
    human = await cairn(['run'], dir, { LEAK_PASSWORD: SECRET });
    events = await cairn(['run', '--json'], dir, { LEAK_PASSWORD: SECRET });
  });

  it('the run fails, and stderr names the reference instead of the value', () => {
    expect(human.code, human.stderr).toBe(1);
    expect(human.stderr).toContain('could not connect to postgres://app:${env:LEAK_PASSWORD}@db/cairn');
    expect(human.stderr + human.stdout).not.toContain(SECRET);
  });

  it('step.log, step.failed and run.finished events carry the reference', () => {
    expect(events.code).toBe(1);
    const lines = events.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; message?: string; error?: unknown });
    const log = lines.find((event) => event.type === 'step.log');
    expect(log?.message).toBe('connecting to postgres://app:${env:LEAK_PASSWORD}@db/cairn');
    const failed = lines.find((event) => event.type === 'step.failed');
    expect(JSON.stringify(failed?.error)).toContain('${env:LEAK_PASSWORD}');
    const finished = lines.find((event) => event.type === 'run.finished');
    expect(String(finished?.error)).toContain('${env:LEAK_PASSWORD}');
    expect(events.stdout + events.stderr).not.toContain(SECRET);
  });

  it('runs --json and runs show read back the reference from SQLite, and no stored byte holds the secret', async () => {
    const runs = await cairn(['runs', '--json'], dir, { LEAK_PASSWORD: SECRET });
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain('${env:LEAK_PASSWORD}');
    expect(runs.stdout).not.toContain(SECRET);
    const runId = (JSON.parse(runs.stdout) as { id: string }[])[0]!.id;
    const shown = await cairn(['runs', 'show', runId, '--json'], dir, { LEAK_PASSWORD: SECRET });
    expect(shown.stdout).toContain('could not connect to postgres://app:${env:LEAK_PASSWORD}');
    expect(shown.stdout).not.toContain(SECRET);
    // runs.error and executions.error live in the database file (and its WAL).
    expect(filesContaining(join(dir, '.cairn'), SECRET)).toEqual([]);
  });
});
