// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax under test, not a mistyped template.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandStep, ErrorCodes, type MetadataStore, metrics, pipeline, step } from '@cairn/core';
import { localStore, readStepLog, runPipeline, stepLogPath } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

let dir: string;
let metadata: MetadataStore;
const SECRET = 'hunter2-very-secret-value';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-steplog-'));
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const chatty = step({
  name: 'chatty',
  config: z.object({ token: z.string(), lines: z.number().int() }),
  outputs: { scores: metrics() },
  async run({ config, log }) {
    log.info(`connecting with token ${config.token}`, { token: config.token });
    for (let i = 1; i <= config.lines; i++) log.info(`line ${i}`);
    log.warn('done');
    return { scores: { lines: config.lines } };
  },
});

async function run(p: Parameters<typeof runPipeline>[0], configs: Record<string, unknown>, extra = {}) {
  const result = await runPipeline(p, {
    storage: localStore({ dir: join(dir, 'artifacts') }),
    metadata,
    projectDir: dir,
    configs,
    environment: { API_TOKEN: SECRET },
    ...extra,
  });
  const executions = await metadata.listExecutions(result.runId);
  return { result, executions };
}

describe('step logs', () => {
  it('keeps what a step logged, with the run secret scrubbed', async () => {
    const { result, executions } = await run(
      pipeline('logs', () => void chatty()),
      {
        chatty: { token: '${env:API_TOKEN}', lines: 3 },
      },
    );
    expect(result.status).toBe('succeeded');
    const execution = executions.find((e) => e.step === 'chatty')!;
    const log = await readStepLog(join(dir, '.cairn'), result.runId, execution.id);
    expect(log).toBeDefined();
    expect(log!.step).toBe('chatty');
    expect(log!.executionId).toBe(execution.id);
    expect(log!.lines.map((l) => l.message)).toEqual([
      'connecting with token ${env:API_TOKEN}',
      'line 1',
      'line 2',
      'line 3',
      'done',
    ]);
    expect(log!.lines[0]!.fields).toEqual({ token: '${env:API_TOKEN}' });
    expect(log!.lines.at(-1)!.level).toBe('warn');
    expect(log!.droppedLines).toBe(0);
    // Nowhere in the stored file, whatever its layout.
    const raw = await readFile(stepLogPath(join(dir, '.cairn'), result.runId, execution.id), 'utf8');
    expect(raw).not.toContain(SECRET);
    expect(raw).toContain('line 3');
  });

  it('keeps the tail of a log beyond the bound and says how much was dropped', async () => {
    const lines = 500;
    const { result, executions } = await run(
      pipeline('logs', () => void chatty()),
      { chatty: { token: 'plain', lines } },
      { stepLogBytes: 4096 },
    );
    const execution = executions.find((e) => e.step === 'chatty')!;
    const log = (await readStepLog(join(dir, '.cairn'), result.runId, execution.id))!;
    const messages = log.lines.map((l) => l.message);
    // The newest lines are kept, the oldest dropped and counted: every line is either kept or counted.
    expect(messages.at(-1)).toBe('done');
    expect(messages.at(-2)).toBe(`line ${lines}`);
    expect(messages).not.toContain('line 1');
    expect(messages).not.toContain('connecting with token plain');
    expect(log.droppedLines).toBeGreaterThan(0);
    expect(log.droppedLines + log.lines.length).toBe(lines + 2);
    expect(log.droppedBytes).toBeGreaterThan(0);
    expect(log.limitBytes).toBe(4096);
    const kept = log.lines.reduce((n, l) => n + Buffer.byteLength(JSON.stringify(l)) + 1, 0);
    expect(kept).toBeLessThanOrEqual(4096);
    // Kept lines are consecutive, ending at the last one.
    const numbers = messages.filter((m) => m.startsWith('line ')).map((m) => Number(m.slice(5)));
    expect(numbers).toEqual(numbers.map((_, i) => lines - numbers.length + 1 + i));
  });

  it("keeps a command step's stdout and stderr, also when it fails, scrubbed", async () => {
    const noisy = commandStep({
      name: 'noisy',
      config: z.object({ password: z.string() }),
      command:
        "node -e \"const c=require(process.env.CAIRN_CONFIG);console.log('out '+c.password);console.error('err line');process.exit(2)\"",
      outputs: { x: metrics() },
    });
    const { result, executions } = await run(
      pipeline('cmd', () => void noisy()),
      {
        noisy: { password: '${env:API_TOKEN}' },
      },
    );
    expect(result.status).toBe('failed');
    const execution = executions.find((e) => e.step === 'noisy')!;
    const log = (await readStepLog(join(dir, '.cairn'), result.runId, execution.id))!;
    expect(log.lines.map((l) => [l.level, l.message])).toEqual([
      ['info', 'out ${env:API_TOKEN}'],
      ['warn', 'err line'],
    ]);
    expect(log.lines.every((l) => l.attempt === 1)).toBe(true);
  });

  it('keeps no log with stepLogBytes 0, and refuses a malformed id or a foreign file', async () => {
    const { result } = await run(
      pipeline('logs', () => void chatty()),
      { chatty: { token: 'plain', lines: 2 } },
      { stepLogBytes: 0 },
    );
    expect(result.status).toBe('succeeded');
    await expect(readdir(join(dir, '.cairn', 'logs'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => stepLogPath(dir, '../r_x', 'e_0000')).toThrow(
      expect.objectContaining({ code: ErrorCodes.USAGE }),
    );
    const file = stepLogPath(join(dir, '.cairn'), 'r_abcd1234', 'e_abcd1234');
    await mkdir(join(dir, '.cairn', 'logs', 'r_abcd1234'), { recursive: true });
    await writeFile(file, 'not a log\n');
    await expect(readStepLog(join(dir, '.cairn'), 'r_abcd1234', 'e_abcd1234')).rejects.toMatchObject({
      code: ErrorCodes.ARTIFACT_CORRUPT,
    });
    expect(await readStepLog(join(dir, '.cairn'), 'r_abcd1234', 'e_none1234')).toBeUndefined();
  });
});

describe('secrets a step sees changed', () => {
  // A secret read from a file or a CI variable often ends in a newline, and schemas trim, lowercase
  // or rebuild values: the step (and its error) then holds a text the environment does not.
  const failing = step({
    name: 'failing',
    config: z.object({
      token: z.string().trim(),
      user: z.string().transform((value) => value.toUpperCase()),
      raw: z.string(),
      lines: z.number().int(),
    }),
    outputs: { scores: metrics() },
    async run({ config, log }) {
      log.info(`raw ${config.raw.trim()}`);
      throw new Error(`cannot connect as ${config.user} with token ${config.token}`);
    },
  });

  it('scrubs what the schema made of a secret, and its trimmed form, from errors, records and logs', async () => {
    const user = 'service-account-name';
    const result = await runPipeline(
      pipeline('secrets', () => void failing()),
      {
        storage: localStore({ dir: join(dir, 'artifacts') }),
        metadata,
        projectDir: dir,
        configs: {
          failing: { token: '${env:API_TOKEN}', user: '${env:API_USER}', raw: '${env:API_RAW}', lines: 1 },
        },
        environment: { API_TOKEN: `${SECRET}\n`, API_USER: user, API_RAW: `  raw-${SECRET}\n` },
      },
    );
    expect(result.status).toBe('failed');
    const executions = await metadata.listExecutions(result.runId);
    const execution = executions.find((e) => e.step === 'failing')!;
    expect(execution.error?.message).toContain(
      'cannot connect as ${env:API_USER} with token ${env:API_TOKEN}',
    );
    const log = (await readStepLog(join(dir, '.cairn'), result.runId, execution.id))!;
    expect(log.lines.map((l) => l.message)).toEqual(['raw ${env:API_RAW}']);
    const everything = JSON.stringify({ result, executions, run: await metadata.getRun(result.runId), log });
    for (const secret of [SECRET, user.toUpperCase(), user]) expect(everything).not.toContain(secret);
  });
});
