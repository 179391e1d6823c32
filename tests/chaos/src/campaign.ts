/**
 * The chaos campaign: trials of each kind against a real `cairn` CLI on a copy
 * of the fixture project, every random choice drawn from one seeded PRNG. The
 * CI test runs it with small counts; `npm run chaos` with large ones.
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent } from '@cairn/core';
import {
  alive,
  badObjects,
  cairn,
  chaosProject,
  diffSnapshots,
  fileDigest,
  groupMembers,
  listRuns,
  objectPath,
  type Running,
  scratchBytes,
  scratchEntries,
  sleep,
  snapshot,
  start,
  until,
} from './cli';
import { type MalformedCase, malformedCorpus } from './corpus';
import { type Random, seededRandom } from './prng';

export const TRIAL_KINDS = [
  'sigkill',
  'corruption',
  'malformed input',
  'concurrent runs',
  'sigterm',
] as const;
export type TrialKind = (typeof TRIAL_KINDS)[number];

export interface CampaignOptions {
  seed: number;
  /** How many trials of each kind (0 skips a kind). */
  counts: Record<TrialKind, number>;
  /** Length of the fixture pipeline's chain of small steps. */
  steps: number;
  /** Size of its large file artifact, in MiB. */
  bigMb: number;
  /** Only the malformed-input cases whose name contains this (replaying one case). */
  match?: string;
  /** Progress lines (one per trial). */
  log?: (line: string) => void;
}

export interface TrialResult {
  kind: TrialKind;
  /** What was tried, enough to recognise it in the seed's replay. */
  label: string;
  /** Empty when the trial passed. */
  problems: string[];
}

export interface CampaignResult {
  seed: number;
  trials: TrialResult[];
}

type Outputs = Record<string, Record<string, string>>;

interface Reference {
  project: string;
  /** Step → output → digest, from an uninterrupted run. */
  outputs: Outputs;
  /** Every artifact the run wrote: digest, type, producing step. */
  artifacts: { digest: string; type: string; step: string }[];
}

const MB = 1024 * 1024;

/** Step → output → digest, from the events of a run (executed and cached steps alike). */
function outputsOf(events: CairnEvent[]): Outputs {
  const outputs: Outputs = {};
  for (const event of events) {
    if (event.type === 'step.succeeded' || event.type === 'step.cached') {
      outputs[event.step] = Object.fromEntries(Object.entries(event.outputs).map(([k, v]) => [k, v.digest]));
    }
  }
  return outputs;
}

function compareOutputs(actual: Outputs, expected: Outputs): string[] {
  const problems: string[] = [];
  for (const [step, outputs] of Object.entries(expected)) {
    for (const [name, digest] of Object.entries(outputs)) {
      const got = actual[step]?.[name];
      if (got !== digest)
        problems.push(`${step}.${name} is ${got ?? 'absent'}, uninterrupted run made ${digest}`);
    }
  }
  return problems;
}

const stepsWith = (events: CairnEvent[], type: 'step.succeeded' | 'step.cached' | 'step.started') =>
  events.filter((e) => e.type === type).map((e) => (e as { step: string }).step);

/** What must hold once a run over `project` finished: nothing `running`, scratch reclaimed, every object sound. */
async function afterwards(project: string): Promise<string[]> {
  const problems: string[] = [];
  const runs = await listRuns(project);
  for (const run of runs) if (run.status === 'running') problems.push(`run ${run.id} left running`);
  for (const entry of scratchEntries(project)) problems.push(`scratch not reclaimed: ${entry}`);
  for (const digest of badObjects(project)) problems.push(`object ${digest} does not hash to its name`);
  return problems;
}

async function reference(): Promise<Reference> {
  const project = await chaosProject('reference');
  const result = await start(['run', '--json'], project).done;
  if (result.code !== 0)
    throw new Error(`the uninterrupted reference run failed (${result.code}): ${result.stderr}`);
  const artifacts = result.events.flatMap((e) =>
    e.type === 'artifact.written' ? [{ digest: e.digest, type: e.artifactType, step: e.step }] : [],
  );
  return { project, outputs: outputsOf(result.events), artifacts };
}

// ---------------------------------------------------------------------------
// SIGKILL of `cairn run`, then resume

async function sigkillTrial(rng: Random, ref: Reference, bigMb: number): Promise<TrialResult> {
  const project = await chaosProject('kill');
  const problems: string[] = [];
  const finished = new Set<string>();
  const totalSteps = Object.keys(ref.outputs).length;
  const kills = rng.int(1, 3);
  const plan: string[] = [];
  /**
   * Run id → the statuses it may end with: what its run.finished said, else `failed` (abandoned) —
   * or `succeeded` too when every step had finished before the kill: the run may have closed its
   * record before the SIGKILL landed, and only its run.finished line was lost.
   */
  const expected = new Map<string, string[]>();

  const watch = (round: string) => (event: CairnEvent) => {
    if (event.type === 'step.started' && finished.has(event.step)) {
      problems.push(`${round}: step ${event.step} finished before, yet ran again`);
    }
  };
  for (let k = 1; k <= kills; k++) {
    const duringWrite = bigMb > 0 && rng.next() < 0.4;
    // Counted among the steps still to run: earlier rounds finished some.
    const afterSteps = rng.int(0, Math.max(0, totalSteps - finished.size - 1));
    const threshold = rng.int(1, Math.max(1, bigMb * 2 - 1)) * (MB / 2);
    plan.push(duringWrite ? `kill at ${threshold / MB} MiB of scratch` : `kill after ${afterSteps} steps`);
    let killed = false;
    const kill = (running: Running) => {
      if (killed) return;
      killed = true;
      running.child.kill('SIGKILL');
    };
    let succeeded = 0;
    const running = start(['run', '--json'], project, {
      onEvent: (event, r) => {
        watch(`run ${k}`)(event);
        if (!duringWrite && event.type === 'step.succeeded' && ++succeeded > afterSteps) kill(r);
      },
    });
    let exited = false;
    const done = running.done.then((result) => {
      exited = true;
      return result;
    });
    if (duringWrite) {
      while (!exited && !killed) {
        if (scratchBytes(project) >= threshold) kill(running);
        else await sleep(5);
      }
    }
    const result = await done;
    // A kill that lands after the run finished kills nothing that matters: judge by the events.
    const started = result.events.find((e) => e.type === 'run.started');
    const ended = result.events.find((e) => e.type === 'run.finished');
    if (!killed) plan[plan.length - 1] += ' (the run finished first)';
    if (!killed && result.code !== 0) {
      problems.push(`run ${k} (not killed) exited ${result.code}: ${result.stderr.trim()}`);
    }
    for (const step of [
      ...stepsWith(result.events, 'step.succeeded'),
      ...stepsWith(result.events, 'step.cached'),
    ]) {
      finished.add(step);
    }
    if (started) {
      const allDone = finished.size === totalSteps;
      expected.set(
        started.runId,
        ended?.type === 'run.finished' ? [ended.status] : allDone ? ['failed', 'succeeded'] : ['failed'],
      );
    }
  }

  const final = await start(['run', '--json'], project, { onEvent: watch('resume') }).done;
  if (final.code !== 0) problems.push(`the resume exited ${final.code}: ${final.stderr.trim()}`);
  problems.push(...compareOutputs(outputsOf(final.events), ref.outputs));
  problems.push(...(await afterwards(project)));
  const runs = await listRuns(project);
  for (const [id, statuses] of expected) {
    const row = runs.find((r) => r.id === id);
    if (!row || !statuses.includes(row.status))
      problems.push(`run ${id} is ${row?.status ?? 'unrecorded'}, expected ${statuses.join(' or ')}`);
  }
  if (problems.length === 0) await rm(join(project, '..'), { recursive: true, force: true });
  return { kind: 'sigkill', label: `${plan.join(', ')} (${project})`, problems };
}

// ---------------------------------------------------------------------------
// Corruption of each artifact kind in the local store

const ARTIFACT_KINDS = ['json', 'metrics', 'model', 'report', 'file', 'dir'] as const;
const DAMAGE = ['truncate', 'flip a byte', 'delete'] as const;

async function corruptionTrial(
  rng: Random,
  ref: Reference,
  kind: string,
  damage: (typeof DAMAGE)[number],
): Promise<TrialResult> {
  const problems: string[] = [];
  const project = join(await mkdtemp(join(tmpdir(), 'cairn-chaos-corrupt-')), 'project');
  await cp(ref.project, project, { recursive: true, verbatimSymlinks: true });
  const candidates = ref.artifacts.filter((a) => a.type === kind);
  if (candidates.length === 0) {
    return {
      kind: 'corruption',
      label: `${damage} ${kind}`,
      problems: [`the fixture wrote no ${kind} artifact`],
    };
  }
  const target = rng.pick(candidates);
  const path = objectPath(project, target.digest);
  const label = `${damage} ${kind} ${target.digest.slice(0, 12)} of ${target.step}`;
  await chmod(path, 0o600);
  const size = statSync(path).size;
  if (damage === 'truncate') await truncate(path, rng.int(0, size - 1));
  else if (damage === 'flip a byte') {
    const bytes = await readFile(path);
    const at = rng.int(0, size - 1);
    bytes[at] = bytes[at]! ^ rng.int(1, 255);
    await writeFile(path, bytes);
  } else await unlink(path);

  const result = await cairn(['run'], project);
  if (result.code !== 0) problems.push(`the next run exited ${result.code}: ${result.stderr.trim()}`);
  const word = damage === 'delete' ? 'missing-artifact' : 'corrupt';
  const producers = new Set(ref.artifacts.filter((a) => a.digest === target.digest).map((a) => a.step));
  const reported = result.stdout
    .split('\n')
    .some((line) =>
      [...producers].some(
        (step) => line.startsWith(`${step}: running (${word}: `) && line.includes(target.digest),
      ),
    );
  if (!reported) {
    problems.push(`the run did not report "${word}" with ${target.digest} for ${[...producers].join(', ')}`);
  }
  if (!existsSync(path)) problems.push('the object was not rebuilt');
  else if (fileDigest(path) !== target.digest) problems.push('the object still does not match its digest');
  problems.push(...(await afterwards(project)));
  if (problems.length === 0) await rm(join(project, '..'), { recursive: true, force: true });
  return { kind: 'corruption', label, problems };
}

// ---------------------------------------------------------------------------
// Malformed configs and flags

// C0 controls other than tab and newline, DEL, and the bidirectional overrides and isolates.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what is looked for
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/;

async function malformedTrial(project: string, item: MalformedCase): Promise<TrialResult> {
  const problems: string[] = [];
  const originals = new Map<string, string | undefined>();
  for (const [file, text] of Object.entries(item.files ?? {})) {
    const path = join(project, file);
    originals.set(path, existsSync(path) ? readFileSync(path, 'utf8') : undefined);
    await writeFile(path, text);
  }
  try {
    const before = snapshot(join(project, '.cairn'));
    const result = await cairn(item.args, project, { CHAOS_TOKEN: 'chaos-token', ...item.env });
    const after = snapshot(join(project, '.cairn'));
    if (result.code !== 2)
      problems.push(`exit ${result.code}, expected 2; stderr: ${result.stderr.trim().slice(0, 400)}`);
    if (!/CAIRN_[A-Z_]+/.test(result.stderr))
      problems.push(`no CAIRN_ code on stderr: ${result.stderr.trim().slice(0, 400)}`);
    if (item.code && !result.stderr.includes(item.code)) problems.push(`expected ${item.code} on stderr`);
    // What the user typed is echoed escaped: a raw escape sequence or direction override would
    // repaint the terminal or reorder the message.
    const raw = RAW_CONTROL.exec(result.stderr);
    if (raw)
      problems.push(
        `stderr echoes a raw control character U+${raw[0].codePointAt(0)!.toString(16).padStart(4, '0')}`,
      );
    problems.push(...diffSnapshots(before, after).map((line) => `.cairn ${line}`));
  } finally {
    for (const [path, text] of originals) {
      if (text === undefined) await rm(path, { force: true });
      else await writeFile(path, text);
    }
  }
  return { kind: 'malformed input', label: item.name, problems };
}

// ---------------------------------------------------------------------------
// Concurrent runs of one project

async function concurrentTrial(ref: Reference, runs: number): Promise<TrialResult> {
  const problems: string[] = [];
  const project = await chaosProject('concurrent');
  const results = await Promise.all(
    Array.from({ length: runs }, () => start(['run', '--json'], project).done),
  );
  let succeeded = 0;
  results.forEach((result, i) => {
    const text = result.stdout + result.stderr;
    if (/SQLITE_BUSY|database is locked/i.test(text)) problems.push(`run ${i + 1} hit SQLITE_BUSY`);
    if (result.code === 0) succeeded++;
    else if (!/CAIRN_[A-Z_]+/.test(text)) {
      problems.push(
        `run ${i + 1} exited ${result.code} without a CAIRN_ code: ${result.stderr.trim().slice(0, 400)}`,
      );
    }
  });
  if (succeeded === 0) problems.push(`none of the ${runs} runs succeeded`);
  for (const result of results) {
    if (result.code === 0) problems.push(...compareOutputs(outputsOf(result.events), ref.outputs));
  }
  const again = await start(['run', '--json'], project).done;
  if (again.code !== 0) problems.push(`a run after them exited ${again.code}`);
  const executed = stepsWith(again.events, 'step.succeeded');
  if (executed.length > 0)
    problems.push(`a run after them executed ${executed.join(', ')} instead of reusing them`);
  problems.push(...compareOutputs(outputsOf(again.events), ref.outputs));
  problems.push(...(await afterwards(project)));
  if (problems.length === 0) await rm(join(project, '..'), { recursive: true, force: true });
  return {
    kind: 'concurrent runs',
    label: `${runs} runs at once, ${succeeded} succeeded (${project})`,
    problems,
  };
}

// ---------------------------------------------------------------------------
// SIGTERM with a running command step

async function sigtermTrial(rng: Random, project: string): Promise<TrialResult> {
  const problems: string[] = [];
  const pidFile = join(project, 'sleeper.pids');
  await rm(pidFile, { force: true });
  const running = start(['run', 'sleepy'], project);
  await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().split(' ').length === 2);
  const [shell, sleeper] = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number) as [number, number];
  const stat = readFileSync(`/proc/${sleeper}/stat`, 'utf8');
  const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  const delay = rng.int(0, 400);
  await sleep(delay);
  running.child.kill('SIGTERM');
  const result = await running.done;
  if (result.code !== 1)
    problems.push(`cairn run exited ${result.code ?? result.signal}, expected 1 (cancelled)`);
  // The command's group must end with the run; poll (no deadline: a group that never ends hangs the
  // suite, whose guard fails it).
  await until(() => groupMembers(group).length === 0 && !alive(sleeper) && !alive(shell));
  const runs = await listRuns(project);
  const latest = runs[0];
  if (!latest || !['cancelled', 'failed'].includes(latest.status)) {
    problems.push(`the run ended ${latest?.status ?? 'unrecorded'}, expected cancelled or failed`);
  }
  problems.push(...(await afterwards(project)));
  return { kind: 'sigterm', label: `SIGTERM ${delay} ms after the command started`, problems };
}

// ---------------------------------------------------------------------------

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const rng = seededRandom(options.seed);
  const log = options.log ?? (() => {});
  // Every `cairn` the campaign spawns inherits these: the fixture pipeline reads them.
  process.env.CHAOS_STEPS = String(options.steps);
  process.env.CHAOS_BIG_MB = String(options.bigMb);
  const trials: TrialResult[] = [];
  const record = (result: TrialResult) => {
    trials.push(result);
    log(`${result.problems.length === 0 ? 'pass' : 'FAIL'}  ${result.kind}: ${result.label}`);
    for (const problem of result.problems) log(`      ${problem}`);
  };

  const needsReference =
    options.counts.sigkill + options.counts.corruption + options.counts['concurrent runs'] > 0;
  const ref = needsReference ? await reference() : undefined;

  for (let i = 0; i < options.counts.sigkill; i++) record(await sigkillTrial(rng, ref!, options.bigMb));

  // Every kind in turn, the damage rotating from a random start: 18 trials cover every pair.
  const firstDamage = rng.int(0, DAMAGE.length - 1);
  for (let i = 0; i < options.counts.corruption; i++) {
    const kind = ARTIFACT_KINDS[i % ARTIFACT_KINDS.length]!;
    const damage = DAMAGE[(firstDamage + Math.floor(i / ARTIFACT_KINDS.length)) % DAMAGE.length]!;
    record(await corruptionTrial(rng, ref!, kind, damage));
  }

  if (options.counts['malformed input'] > 0) {
    const project = await chaosProject('malformed');
    const first = await cairn(['run', 'tuned'], project, { CHAOS_TOKEN: 'chaos-token' });
    if (first.code !== 0) throw new Error(`the well-formed run of tuned failed: ${first.stderr}`);
    const corpus = malformedCorpus().filter((item) => !options.match || item.name.includes(options.match));
    const chosen =
      options.counts['malformed input'] >= corpus.length
        ? corpus
        : rng.sample(corpus, options.counts['malformed input']);
    for (const item of chosen) record(await malformedTrial(project, item));
  }

  for (let i = 0; i < options.counts['concurrent runs']; i++) record(await concurrentTrial(ref!, 8));

  if (options.counts.sigterm > 0) {
    const project = await chaosProject('sigterm');
    for (let i = 0; i < options.counts.sigterm; i++) record(await sigtermTrial(rng, project));
  }
  if (ref && trials.every((t) => t.problems.length === 0))
    await rm(join(ref.project, '..'), { recursive: true, force: true });
  return { seed: options.seed, trials };
}

/** The campaign's table: kind of trial | trials | passed | failed, then the failures. */
export function formatTable(result: CampaignResult): string {
  const rows = TRIAL_KINDS.map((kind) => {
    const of = result.trials.filter((t) => t.kind === kind);
    const failed = of.filter((t) => t.problems.length > 0).length;
    return [kind, String(of.length), String(of.length - failed), String(failed)];
  });
  const total = result.trials.length;
  const totalFailed = result.trials.filter((t) => t.problems.length > 0).length;
  rows.push(['total', String(total), String(total - totalFailed), String(totalFailed)]);
  const header = ['kind of trial', 'trials', 'passed', 'failed'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const out = [
    `seed ${result.seed}`,
    line(header),
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ];
  for (const trial of result.trials.filter((t) => t.problems.length > 0)) {
    out.push('', `FAILED ${trial.kind}: ${trial.label}`, ...trial.problems.map((p) => `  - ${p}`));
  }
  return out.join('\n');
}
