/**
 * `npm run chaos`: the full campaign. Prints one line per trial as it goes,
 * then the table; exits 1 when any trial failed (the seed reproduces it).
 *
 *   npm run chaos -- [--trials N] [--seed S] [--steps N] [--big-mb N] [--only kind,kind] [--match text]
 *
 * `--trials` is the number of SIGKILL trials; the other kinds scale from it
 * (corruption: every artifact kind × every damage, at least once; malformed
 * input: the whole corpus; concurrent runs and SIGTERM: a quarter of it).
 */
import { parseArgs } from 'node:util';
import { formatTable, runCampaign, TRIAL_KINDS, type TrialKind } from './campaign';
import { malformedCorpus } from './corpus';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    seed: { type: 'string' },
    steps: { type: 'string', default: '200' },
    'big-mb': { type: 'string', default: '64' },
    only: { type: 'string' },
    match: { type: 'string' },
  },
});

const positive = (name: string, text: string | undefined, min = 1) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be an integer ≥ ${min}, got ${text}`);
    process.exit(2);
  }
  return value;
};
const trials = positive('trials', values.trials);
const seed =
  values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', values.seed, 0);
const only = values.only?.split(',').map((s) => s.trim()) ?? [...TRIAL_KINDS];
for (const kind of only) {
  if (!TRIAL_KINDS.includes(kind as TrialKind)) {
    console.error(`--only: unknown kind "${kind}" (known: ${TRIAL_KINDS.join(', ')})`);
    process.exit(2);
  }
}
const quarter = Math.max(1, Math.ceil(trials / 4));
const counts: Record<TrialKind, number> = {
  sigkill: trials,
  corruption: Math.max(18, trials),
  'malformed input': malformedCorpus().length,
  'concurrent runs': quarter,
  sigterm: quarter,
};
for (const kind of TRIAL_KINDS) if (!only.includes(kind)) counts[kind] = 0;

console.log(`chaos campaign, seed ${seed} (replay: npm run chaos -- --seed ${seed} --trials ${trials})`);
const result = await runCampaign({
  seed,
  counts,
  steps: positive('steps', values.steps),
  bigMb: positive('big-mb', values['big-mb'], 0),
  ...(values.match ? { match: values.match } : {}),
  log: (line) => console.log(line),
});
console.log('');
console.log(formatTable(result));
process.exitCode = result.trials.some((t) => t.problems.length > 0) ? 1 : 0;
