/**
 * `cairn new --data`: projects built around a team's own data. Three real
 * data sets from vega-datasets (one classification from a JSON file, one
 * regression downloaded over HTTP from a local server, one with a date
 * column and a time window) are scaffolded, run green and pass their own
 * generated tests, with no TypeScript touched.
 */
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configFiles, planFromProfile, profileData, readDataSource } from '../src/lib/infer';
import { type CliResult, cairn, DEV_ENTRY, listFiles, tempDir } from './helpers';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
// vega-datasets' entry is build/index.js; its data files sit in data/ beside build/.
const vega = join(dirname(dirname(createRequire(import.meta.url).resolve('vega-datasets'))), 'data');
const PENGUINS = join(vega, 'penguins.json');
const CARS = join(vega, 'cars.json');
const WEATHER = join(vega, 'seattle-weather.csv');

/** Run a program in `cwd` with no terminal; resolves with its exit code and output. */
function run(command: string, args: string[], cwd: string): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}
/** stderr as one line: oclif wraps long messages and prefixes each line with "›". */
const flat = (text: string) => text.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ');
const yamlOf = (dir: string, file: string) => parse(readFileSync(join(dir, file), 'utf8'));

/** The rows of the weather CSV, parsed independently of the code under test. */
function weatherRows(): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(WEATHER, 'utf8').trim().split('\n');
  const names = header!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i]!, v])));
}

describe('inferring a project from data', () => {
  it('profiles columns: types, ranges that hold the data, categories, missing rates', async () => {
    const source = await readDataSource(WEATHER);
    expect(source).toMatchObject({ format: 'csv', fileName: 'seattle-weather.csv' });
    const profile = await profileData(source);
    const rows = weatherRows();
    expect(profile.rows).toBe(rows.length);
    const temps = rows.map((r) => Number(r.temp_max));
    const temp = profile.columns.find((c) => c.name === 'temp_max')!;
    expect(temp).toMatchObject({
      type: 'number',
      min: Math.min(...temps),
      max: Math.max(...temps),
      missingRate: 0,
    });
    const weather = profile.columns.find((c) => c.name === 'weather')!;
    expect(weather.categories).toEqual([...new Set(rows.map((r) => r.weather))].sort());

    const plan = planFromProfile(profile, { target: 'weather', timeColumn: 'date', window: '730d' });
    expect(plan).toMatchObject({
      task: 'classification',
      numeric: ['precipitation', 'temp_max', 'temp_min', 'wind'],
      categorical: [],
      timeColumn: 'date',
    });
    const files = configFiles(profile, plan, source, 'weather');
    const validate = parse(files['conf/base/validate.yaml']!);
    // The inferred range holds every observed value, with room to spare.
    expect(validate.columns.temp_max.min).toBeLessThan(Math.min(...temps));
    expect(validate.columns.temp_max.max).toBeGreaterThan(Math.max(...temps));
    expect(validate.columns.weather).toMatchObject({ allowed: weather.categories, maxMissing: 0 });
    expect(parse(files['conf/base/prepare.yaml']!)).toMatchObject({
      split: 'time',
      window: { column: 'date', last: '730d' },
    });
    expect(parse(files['conf/base/drift.yaml']!).ignore).toEqual(['date']);
  });

  it('infers regression for a numeric target with many values, and lower-is-better RMSE for the gate', async () => {
    const source = await readDataSource(CARS);
    const profile = await profileData(source);
    const mpg = JSON.parse(readFileSync(CARS, 'utf8')).map((r: any) => r.Miles_per_Gallon);
    const target = profile.columns.find((c) => c.name === 'Miles_per_Gallon')!;
    expect(target.missingRate).toBeCloseTo(mpg.filter((v: unknown) => v === null).length / mpg.length, 12);
    const plan = planFromProfile(profile, { target: 'Miles_per_Gallon' });
    expect(plan.task).toBe('regression');
    // Car names are nearly all distinct: an id, not a feature.
    expect(plan.excluded.map((e) => e.column)).toEqual(['Name']);
    const gate = parse(configFiles(profile, plan, source, 'cars')['conf/base/gate.yaml']!);
    expect(gate).toMatchObject({ metric: 'rmse', direction: 'lower' });
    // Cylinders has 5 distinct numbers: as a target it is read as classes.
    expect(planFromProfile(profile, { target: 'Cylinders' }).task).toBe('classification');
    expect(() => planFromProfile(profile, { target: 'Origin', task: 'regression' })).toThrow(
      /predicts a number/,
    );
  });
});

/**
 * `cairn new` on a real pseudo-terminal (util-linux `script`), answering each
 * question when it appears; returns everything the terminal showed.
 */
function newOnTerminal(args: string[], cwd: string, answers: Array<[RegExp, string]>): Promise<CliResult> {
  const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, DEV_ENTRY, 'new', ...args].map(quote).join(' ');
  return new Promise((done) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let next = 0;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const answer = answers[next];
      if (answer?.[0].test(stdout)) {
        next++;
        child.stdin.write(`${answer[1]}\r`);
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe('cairn new on a terminal', () => {
  it('asks for the data set, the target and the task, offering what it inferred', async () => {
    const cwd = await tempDir('data-tty');
    const result = await newOnTerminal(['asked', '--link', '--no-install', '--no-git'], cwd, [
      [/Template \(/, ''],
      [/Plugins to add/, ''],
      [/Data set \(CSV\/JSON file or URL/, WEATHER],
      [/Target column \(date, precipitation, temp_max, temp_min, wind, weather\)\? \(weather\)/, 'weather'],
      [/Task \(classification or regression\)\? \(classification\)/, ''],
    ]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const dir = join(cwd, 'asked');
    expect(yamlOf(dir, 'conf/base/prepare.yaml')).toMatchObject({
      task: 'classification',
      target: 'weather',
    });
    expect(listFiles(join(dir, 'data'))).toEqual(['seattle-weather.csv']);
  });
});

describe('cairn new --data refuses bad flags with exit 2 and writes nothing', () => {
  it.each([
    [['--data', WEATHER, '--target', 'nope'], /--target "nope" is not a column/],
    [
      ['--data', WEATHER, '--target', 'weather', '--time-column', 'when'],
      /--time-column "when" is not a column/,
    ],
    [['--data', WEATHER], /--data needs --target/],
    [['--data', join(vega, 'no-such-file.csv'), '--target', 'x'], /Cannot read --data .*no such file/],
    [['--data', join(vega, '7zip.png'), '--target', 'x'], /Cannot read --data|rows and/],
    [['--target', 'weather'], /--target is for a project built around --data/],
    [['--data', join(vega, 'us-10m.json'), '--target', 'x'], /as JSON: expected a JSON array of row objects/],
    [
      ['--data', WEATHER, '--target', 'weather', '--window', '2y', '--time-column', 'date'],
      /--window must be/,
    ],
  ])('%j', async (flags, message) => {
    const cwd = await tempDir('data-bad');
    const result = await cairn(['new', 'proj', '--link', '--no-install', '--no-git', ...flags], cwd);
    expect(result.code, result.stdout).toBe(2);
    expect(flat(result.stderr)).toMatch(message);
    expect(flat(result.stderr)).toContain('Code: CAIRN_SCAFFOLD_INVALID');
    expect(listFiles(cwd)).toEqual([]);
  });
});

describe('projects built around three data sets run green and pass their own tests', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // The regression data set is downloaded over HTTP, as from a team's data server.
    server = createServer((req, res) => {
      if (req.url === '/data/cars.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        createReadStream(CARS).pipe(res);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((closed) => server.close(() => closed())));

  const scaffold = async (name: string, flags: string[]) => {
    const cwd = await tempDir(`data-${name}`);
    const made = await cairn(['new', name, '--link', '--no-install', '--no-git', ...flags], cwd);
    expect(made.code, made.stderr).toBe(0);
    const dir = join(cwd, name);
    // The monorepo's packages stand in for an install (as --link would install them).
    await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    return dir;
  };
  const projectTests = (dir: string) =>
    run(process.execPath, [join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], dir);

  it('an HTTP 404 is exit 2 and writes nothing', async () => {
    const cwd = await tempDir('data-404');
    const result = await cairn(
      ['new', 'p', '--link', '--no-install', '--no-git', '--data', `${base}/data/none.csv`, '--target', 'x'],
      cwd,
    );
    expect(result.code).toBe(2);
    expect(flat(result.stderr)).toMatch(/Cannot download --data .*none\.csv: HTTP 404/);
    expect(listFiles(cwd)).toEqual([]);
  });

  it('classification from a JSON file: penguins with their own column names', async () => {
    const dir = await scaffold('penguin-species', ['--data', PENGUINS, '--target', 'Species']);
    expect(listFiles(join(dir, 'data'))).toEqual(['penguins.json']);
    expect(readFileSync(join(dir, 'data', 'penguins.json'))).toEqual(readFileSync(PENGUINS));
    expect(yamlOf(dir, 'conf/base/prepare.yaml')).toMatchObject({
      task: 'classification',
      split: 'stratified',
    });
    expect(yamlOf(dir, 'conf/base/gate.yaml')).toMatchObject({ metric: 'macro_f1', direction: 'higher' });
    const first = await cairn(['run'], dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/9 executed, 0 cached, 0 failed, 0 skipped/);
    expect(first.stdout).toMatch(/promoted: first model of "penguin-species"/);
    const tests = await projectTests(dir);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
  });

  it('regression from an HTTP URL: cars, predict miles per gallon; the gate is RMSE, lower is better', async () => {
    const dir = await scaffold('mpg', ['--data', `${base}/data/cars.json`, '--target', 'Miles_per_Gallon']);
    expect(readFileSync(join(dir, 'data', 'cars.json'))).toEqual(readFileSync(CARS));
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).not.toMatch(
      /penguin|Biscoe|Gentoo|species|confusion matrix, ROC, calibration/i,
    );
    expect(yamlOf(dir, 'conf/base/prepare.yaml')).toMatchObject({ task: 'regression', split: 'random' });
    expect(yamlOf(dir, 'conf/base/deploy.yaml').metric).toEqual({
      name: 'abs_error',
      type: 'continuous',
      goal: 'decrease',
    });
    const first = await cairn(['run'], dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/promoted: first model of "mpg": rmse = /);
    const rmse = Number(/evaluate \| RMSE (\S+) \(mean predictor (\S+)\)/.exec(first.stdout)?.[1]);
    const baseline = Number(/mean predictor (\S+)\)/.exec(first.stdout)?.[1]);
    expect(rmse).toBeLessThan(baseline);
    // A worse candidate (a stump) is not promoted over a lower RMSE.
    const worse = await cairn(['run', '--set', 'train.trees=1', '--set', 'train.maxDepth=1'], dir);
    expect(worse.code, worse.stdout + worse.stderr).toBe(0);
    expect(worse.stdout).toMatch(/gate \| kept: rmse/);
    const tests = await projectTests(dir);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    // The compiler checks the project, and reports nothing from Cairn's own sources.
    const tsc = await run(
      process.execPath,
      [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit'],
      dir,
    );
    expect(tsc.code, tsc.stdout).toBe(0);
  });

  it('a date column and a time window: Seattle weather, classified; new data re-runs only what depends on it', async () => {
    const dir = await scaffold('weather', [
      '--data',
      WEATHER,
      '--target',
      'weather',
      '--time-column',
      'date',
      '--window',
      '730d',
    ]);
    expect(yamlOf(dir, 'conf/base/prepare.yaml')).toMatchObject({
      split: 'time',
      timeColumn: 'date',
      window: { column: 'date', last: '730d' },
    });
    // The README speaks of the team's data, not of the penguins sample.
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).not.toMatch(/penguin|Biscoe|Gentoo|Chinstrap|species/i);
    expect(readme).toContain('data/seattle-weather.csv');
    expect(readme).toContain('window: { column: date, last: 730d }');
    const first = await cairn(['run'], dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    // 1461 days, of which the last 730 are in the window; a fifth of them are the test split.
    const inWindow = weatherRows().filter(
      (r) => Date.parse(r.date!) > Date.parse('2015-12-31') - 730 * 86_400_000,
    ).length;
    expect(first.stdout).toContain(
      `prepare | ${inWindow - Math.round(inWindow * 0.2)} training rows, ${Math.round(inWindow * 0.2)} test rows`,
    );
    const again = await cairn(['run'], dir);
    expect(again.stdout).toMatch(/0 executed, 9 cached/);
    // The oldest year is dropped from the data: ingest and validate see new data, but the
    // window still holds the same rows, so prepare's outputs are the same and train is reused.
    const csv = join(dir, 'data', 'seattle-weather.csv');
    const lines = readFileSync(csv, 'utf8').split('\n');
    writeFileSync(csv, [lines[0], ...lines.slice(1).filter((l) => !l.startsWith('2012-'))].join('\n'));
    const newer = await cairn(['run'], dir);
    expect(newer.code, newer.stdout + newer.stderr).toBe(0);
    expect(newer.stdout).toMatch(/^ingest: running \(state-changed\)/m);
    expect(newer.stdout).toMatch(/^train: cached/m);
    // A newer year arrives (2015's days again, as 2016): the window moves forward, so
    // the model is retrained on the latest 730 days.
    const original = readFileSync(WEATHER, 'utf8').trimEnd().split('\n');
    const newer2016 = original.filter((l) => l.startsWith('2015-')).map((l) => l.replace(/^2015-/, '2016-'));
    writeFileSync(csv, `${[...original, ...newer2016].join('\n')}\n`);
    const retrained = await cairn(['run'], dir);
    expect(retrained.code, retrained.stdout + retrained.stderr).toBe(0);
    expect(retrained.stdout).toMatch(/^train: running/m);
    const dates = [...original.slice(1), ...newer2016].map((l) => Date.parse(l.slice(0, 10)));
    const newest = Math.max(...dates);
    const recent = dates.filter((d) => d > newest - 730 * 86_400_000).length;
    expect(retrained.stdout).toContain(`${dates.length - recent} outside the window`);
    // The generated tests read the project's config and data: they hold for the new data too.
    const tests = await projectTests(dir);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
  });

  it('drift → retrain: npm run monitor finds drift in newly landed rows and retrains on the newer time window', async () => {
    const dir = await scaffold('weather-monitor', [
      '--data',
      WEATHER,
      '--target',
      'weather',
      '--time-column',
      'date',
      '--window',
      '730d',
    ]);
    const first = await cairn(['run'], dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    // A summer arrives: June to September of 2015 again, as 2016. It lands in the data
    // set, and on its own in data/live.csv, which the monitoring pipeline reads as `live`.
    const original = readFileSync(WEATHER, 'utf8').trimEnd().split('\n');
    const summer = original.filter((l) => /^2015-0[6-9]-/.test(l)).map((l) => l.replace(/^2015-/, '2016-'));
    writeFileSync(join(dir, 'data', 'seattle-weather.csv'), `${[...original, ...summer].join('\n')}\n`);
    writeFileSync(join(dir, 'data', 'live.csv'), `${[original[0], ...summer].join('\n')}\n`);
    const live = join(dir, 'conf', 'base', 'live.yaml');
    writeFileSync(live, readFileSync(live, 'utf8').replace(/^path: .*$/m, 'path: data/live.csv'));
    const before = JSON.parse((await cairn(['runs', '--json'], dir)).stdout) as Array<{ id: string }>;

    const monitor = await run('npm', ['run', 'monitor'], dir);
    const output = monitor.stdout + monitor.stderr;
    const runs = JSON.parse((await cairn(['runs', '--json'], dir)).stdout) as Array<{
      id: string;
      pipeline: string;
    }>;
    // Two new runs: the monitoring run, then the retraining run it triggered.
    expect(runs.length - before.length, output).toBe(2);
    expect(runs.map((r) => r.pipeline).slice(0, 2)).toEqual(['training', 'monitoring']);
    const drift = JSON.parse((await cairn(['drift', runs[1]!.id, '--json'], dir)).stdout);
    expect(drift.drifted).toBe(true);
    expect(drift.driftedColumns).toContain('temp_max');
    // The retraining run trained on the new data and the newer window: not 0 of 8. Its ingest
    // is the monitoring run's reading of the new file (same source, same fingerprint), reused.
    type Shown = {
      executions: Array<{ step: string; status: string; outputs: Record<string, { digest: string }> }>;
    };
    const show = async (id: string) =>
      JSON.parse((await cairn(['runs', 'show', id, '--json'], dir)).stdout) as Shown;
    const retrain = await show(runs[0]!.id);
    const firstRun = await show(before[0]!.id);
    const executed = retrain.executions.filter((e) => e.status === 'succeeded').map((e) => e.step);
    expect(executed).toEqual(expect.arrayContaining(['validate', 'prepare', 'train', 'evaluate']));
    const ingestOf = (shown: Shown) =>
      shown.executions.find((e) => e.step === 'ingest')!.outputs.data!.digest;
    expect(ingestOf(retrain)).not.toBe(ingestOf(firstRun));
    const dates = [...original.slice(1), ...summer].map((l) => Date.parse(l.slice(0, 10)));
    const newest = Math.max(...dates);
    const outside = dates.filter((d) => d <= newest - 730 * 86_400_000).length;
    expect(output).toContain(`${outside} outside the window`);
    // The window moved: more of the oldest rows fall outside it than in the first run.
    const firstOutside = Number(/(\d+) outside the window/.exec(first.stdout)?.[1]);
    expect(outside).toBeGreaterThan(firstOutside);
    // The retrain ends with the gate: exit 0 when the new model is promoted or kept within
    // the margin, 1 only when the gate refuses it.
    expect(monitor.code === 0 || /worse than production/.test(output), output).toBe(true);
  });
});
