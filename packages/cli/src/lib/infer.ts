/**
 * `cairn new --data`: read a team's data set (a CSV or JSON file, or an
 * http(s) URL of one), profile its columns with the same reader the
 * project's ingest step uses, and turn the profile into the project's
 * config: the validation schema, the task, target and features, the gate
 * metric and its direction. Nothing here writes a file; the scaffolder
 * writes what this returns, all at once.
 */

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, extname, resolve } from 'node:path';
import { usageError } from './errors';

export type Task = 'classification' | 'regression';

/** The data as read: its bytes (copied into the project), format and file name. */
export interface DataSource {
  bytes: Buffer;
  format: 'csv' | 'json';
  /** The file name under data/ in the project. */
  fileName: string;
  /** What the user passed (a path or URL), for messages. */
  origin: string;
}

/** What one column looks like. */
export interface ColumnProfile {
  name: string;
  type: 'number' | 'string' | 'boolean' | 'date';
  missingRate: number;
  distinct: number;
  min?: number;
  max?: number;
  std?: number;
  /** Present values by frequency, for columns with few distinct values. */
  categories?: string[];
}

export interface DataProfile {
  rows: number;
  columns: ColumnProfile[];
}

/** Most distinct values a text column may have to be a categorical feature (more: an id or free text). */
const MAX_CATEGORIES = 50;
/** Most distinct values a numeric target may have and still be read as classes. */
const MAX_CLASSES = 20;

const scaffoldError = (message: string, hint?: string) =>
  usageError(message, { code: 'CAIRN_SCAFFOLD_INVALID', ...(hint ? { hint } : {}) });

/**
 * Read the data as a stream (a file, or the body of an http(s) response):
 * no whole-file synchronous read, and a clear error for what cannot be read.
 */
export async function readDataSource(input: string): Promise<DataSource> {
  const isUrl = /^https?:\/\//i.test(input);
  const chunks: Buffer[] = [];
  let name: string;
  let contentType = '';
  if (isUrl) {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw scaffoldError(`--data ${input} is not a valid URL`);
    }
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'follow' });
    } catch (cause) {
      throw scaffoldError(
        `Cannot download --data ${input}: ${(cause as Error).message}`,
        'Check the URL and the network, or download the file and pass its path.',
      );
    }
    if (!response.ok || !response.body) {
      throw scaffoldError(`Cannot download --data ${input}: HTTP ${response.status}`);
    }
    contentType = response.headers.get('content-type') ?? '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
      chunks.push(Buffer.from(chunk));
    name = basename(url.pathname) || 'data';
  } else {
    const path = resolve(input);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) {
      throw scaffoldError(
        `Cannot read --data ${input}: ${info ? 'not a file' : 'no such file'}`,
        'Pass a CSV or JSON file, or an http(s) URL of one.',
      );
    }
    try {
      for await (const chunk of createReadStream(path)) chunks.push(chunk as Buffer);
    } catch (cause) {
      throw scaffoldError(`Cannot read --data ${input}: ${(cause as NodeJS.ErrnoException).code ?? cause}`);
    }
    name = basename(path);
  }
  const bytes = Buffer.concat(chunks);
  const ext = extname(name).toLowerCase();
  const looksJson = /^\s*\[/.test(bytes.subarray(0, 64).toString('utf8'));
  const format: 'csv' | 'json' =
    ext === '.json' || (ext === '' && (contentType.includes('json') || looksJson)) ? 'json' : 'csv';
  const stem = (ext ? name.slice(0, -ext.length) : name).replace(/[^A-Za-z0-9._-]+/g, '-') || 'data';
  return { bytes, format, fileName: `${stem}.${format}`, origin: input };
}

/** Profile every column with @cairn/tabular's reader: the types ingest will see. */
export async function profileData(source: DataSource): Promise<DataProfile> {
  const { tableFromCsv, tableFromJson, columnStats } = await import('@cairn/tabular');
  let table: ReturnType<typeof tableFromCsv>;
  try {
    const text = source.bytes.toString('utf8');
    if (source.format === 'json') {
      // The project's ingest reads a JSON array of row objects; anything else would fail there later.
      if (!text.trimStart().startsWith('[')) throw new Error('expected a JSON array of row objects');
      table = tableFromJson(text);
    }
    // Text without a line break would be read as a path: a one-line CSV is a header without rows anyway.
    else table = tableFromCsv(text.includes('\n') ? text : `${text}\n`, { nullValues: ['', 'NA'] });
  } catch (cause) {
    throw scaffoldError(
      `Cannot read --data ${source.origin} as ${source.format.toUpperCase()}: ${(cause as Error).message}`,
    );
  }
  if (table.numRows === 0 || table.schema.fields.length < 2) {
    throw scaffoldError(
      `--data ${source.origin} has ${table.numRows} rows and ${table.schema.fields.length} columns`,
      'A project needs a table with a header, rows, a target column and at least one feature.',
    );
  }
  const columns = columnStats(table).map((s): ColumnProfile => {
    const profile: ColumnProfile = {
      name: s.name,
      type: s.type,
      missingRate: s.missingFraction,
      distinct: s.distinct,
    };
    if (s.numeric) Object.assign(profile, { min: s.numeric.min, max: s.numeric.max, std: s.numeric.std });
    if (s.categories && s.distinct <= MAX_CATEGORIES) profile.categories = Object.keys(s.categories).sort();
    return profile;
  });
  return { rows: table.numRows, columns };
}

/** The choices `cairn new --data` makes, from the profile and the flags. */
export interface DataPlan {
  task: Task;
  target: string;
  numeric: string[];
  categorical: string[];
  /** Columns left out of the features, and why. */
  excluded: Array<{ column: string; reason: string }>;
  timeColumn?: string;
  window?: string;
}

/**
 * Decide task and features. A numeric target with more than MAX_CLASSES
 * distinct values is a regression, anything else a classification.
 * @throws CAIRN_SCAFFOLD_INVALID naming an unknown column or a task the target cannot have
 */
export function planFromProfile(
  profile: DataProfile,
  options: {
    target: string;
    task?: string | undefined;
    timeColumn?: string | undefined;
    window?: string | undefined;
  },
): DataPlan {
  const names = profile.columns.map((c) => c.name);
  const column = (name: string, flag: string) => {
    const found = profile.columns.find((c) => c.name === name);
    if (!found) {
      throw scaffoldError(`${flag} "${name}" is not a column of the data`, `Columns: ${names.join(', ')}`);
    }
    return found;
  };
  const target = column(options.target, '--target');
  if (target.missingRate === 1) throw scaffoldError(`--target "${target.name}" has no values`);
  if (options.task !== undefined && options.task !== 'classification' && options.task !== 'regression')
    throw scaffoldError(`--task must be classification or regression, got "${options.task}"`);
  const task: Task =
    (options.task as Task | undefined) ??
    (target.type === 'number' && target.distinct > MAX_CLASSES ? 'regression' : 'classification');
  if (task === 'regression' && target.type !== 'number') {
    throw scaffoldError(
      `--target "${target.name}" holds ${target.type} values; a regression predicts a number`,
      'Use --task classification, or choose a numeric target.',
    );
  }
  if (task === 'classification' && target.distinct < 2) {
    throw scaffoldError(
      `--target "${target.name}" has ${target.distinct} distinct value; a classifier needs two or more`,
    );
  }
  let timeColumn: ColumnProfile | undefined;
  if (options.timeColumn !== undefined) {
    timeColumn = column(options.timeColumn, '--time-column');
    if (timeColumn.name === target.name) throw scaffoldError('--time-column cannot be the target');
  }
  if (options.window !== undefined) {
    if (!timeColumn) throw scaffoldError('--window needs --time-column');
    if (!/^\d+(\.\d+)?[hdw]$/.test(options.window) || !(Number.parseFloat(options.window) > 0))
      throw scaffoldError(`--window must be a duration such as 730d, 12w or 36h, got "${options.window}"`);
  }
  const numeric: string[] = [];
  const categorical: string[] = [];
  const excluded: DataPlan['excluded'] = [];
  for (const c of profile.columns) {
    if (c.name === target.name || c.name === timeColumn?.name) continue;
    if (c.missingRate === 1) excluded.push({ column: c.name, reason: 'no values' });
    else if (c.type === 'number') numeric.push(c.name);
    else if (c.type === 'string' && c.categories && c.distinct < Math.max(2, profile.rows * 0.5))
      categorical.push(c.name);
    else if (c.type === 'string')
      excluded.push({
        column: c.name,
        reason: `${c.distinct} distinct texts: an id or free text, not a category`,
      });
    else excluded.push({ column: c.name, reason: `${c.type} column` });
  }
  if (numeric.length + categorical.length === 0) {
    throw scaffoldError(
      `--data ${names.length} columns leave no feature besides the target${timeColumn ? ' and the time column' : ''}`,
      excluded.map((e) => `${e.column}: ${e.reason}`).join('; ') || undefined,
    );
  }
  return {
    task,
    target: target.name,
    numeric,
    categorical,
    excluded,
    ...(timeColumn ? { timeColumn: timeColumn.name } : {}),
    ...(options.window ? { window: options.window } : {}),
  };
}

/** Round to 4 significant digits, outward, so bounds still hold the data. */
function round(value: number, direction: 'down' | 'up'): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  const scale = 10 ** (Math.floor(Math.log10(Math.abs(value))) - 3);
  return Number(
    ((direction === 'down' ? Math.floor(value / scale) : Math.ceil(value / scale)) * scale).toPrecision(12),
  );
}

/** YAML with a leading comment; lists and per-column rules on one line each, as a person would write them. */
function yaml(comment: string, value: unknown): string {
  // Required here, not imported: the CLI is one bundle, and every command (`cairn run` too) would
  // otherwise load the YAML library at start for `cairn new --data` alone.
  const { Document, isMap, isSeq, visit } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const doc = new Document(value);
  visit(doc, (_key, node, path) => {
    if (isSeq(node) || (isMap(node) && path.length >= 5)) node.flow = true;
  });
  const lines = comment
    .trim()
    .split('\n')
    .map((line) => `# ${line}`);
  return `${lines.join('\n')}\n${doc.toString({ lineWidth: 240, flowCollectionPadding: false })}`;
}

/**
 * The project's config files for the data: path under the project → YAML.
 * `name` is the project's kebab name (model and endpoint name).
 */
export function configFiles(
  profile: DataProfile,
  plan: DataPlan,
  source: DataSource,
  name: string,
): Record<string, string> {
  const dataPath = `data/${source.fileName}`;
  const columns: Record<string, Record<string, unknown>> = {};
  for (const c of profile.columns) {
    const rules: Record<string, unknown> = { type: c.type };
    if (c.type === 'number' && c.min !== undefined && c.max !== undefined) {
      // A margin of a tenth of the observed span: new data may reach a little further, a unit error much further.
      const margin = (c.max - c.min) * 0.1 || Math.abs(c.max) * 0.1 || 1;
      rules.min = round(c.min >= 0 && c.min - margin < 0 ? 0 : c.min - margin, 'down');
      rules.max = round(c.max + margin, 'up');
    }
    if (c.type === 'string' && c.categories && (c.name === plan.target || plan.categorical.includes(c.name)))
      rules.allowed = c.categories;
    // The target and time column get no slack beyond what the data has (prepare drops rows without a target).
    const essential = c.name === plan.target || c.name === plan.timeColumn;
    const observed = Math.ceil(c.missingRate * 100) / 100;
    rules.maxMissing = Math.min(1, Number((essential ? observed : observed + 0.05).toFixed(2)));
    columns[c.name] = rules;
  }
  const target = profile.columns.find((c) => c.name === plan.target)!;
  const regression = plan.task === 'regression';
  // Gate margins in the target's own units for RMSE: a thousandth and two hundredths of its spread.
  const spread = target.std && target.std > 0 ? target.std : 1;
  const split = plan.timeColumn ? 'time' : regression ? 'random' : 'stratified';
  const excludedNote = plan.excluded.length
    ? `\nLeft out: ${plan.excluded.map((e) => `${e.column} (${e.reason})`).join(', ')}.`
    : '';
  return {
    'conf/base/ingest.yaml': yaml(
      `The data set, copied from ${source.origin} by cairn new (${profile.rows} rows).\nReplace the file (or point path at another) and adjust validate.yaml and prepare.yaml: no code changes.`,
      { path: dataPath, missing: ['', 'NA'] },
    ),
    'conf/base/live.yaml': yaml(
      'The live data the monitoring pipeline compares with the training data. Point `path`\nat where new data lands (a nightly export, the rows your model server was asked about).',
      { path: dataPath, missing: ['', 'NA'] },
    ),
    'conf/base/validate.yaml': yaml(
      `What the data must look like before anything is learned from it, inferred from ${source.fileName}:\nper column its type, a plausible range (the observed one plus a tenth of its span),\nthe allowed categories and the largest share of missing values. Tighten it as you learn the data.`,
      { minRows: Math.max(10, Math.floor(profile.rows / 2)), columns },
    ),
    'conf/base/prepare.yaml': yaml(
      `${regression ? `Regression: ${plan.target} is a number with ${target.distinct} distinct values.` : `Classification: ${plan.target} has ${target.distinct} classes.`}\nFeatures: numeric ones are imputed and standardized, categorical ones one-hot encoded.${excludedNote}\nsplit: stratified (each class keeps its share), random, or time (the latest rows by timeColumn).`,
      {
        task: plan.task,
        target: plan.target,
        numeric: plan.numeric,
        categorical: plan.categorical,
        split,
        ...(plan.timeColumn ? { timeColumn: plan.timeColumn } : {}),
        ...(plan.window ? { window: { column: plan.timeColumn, last: plan.window } } : {}),
        testFraction: 0.2,
        seed: 42,
        impute: 'median',
        scale: 'standard',
      },
    ),
    'conf/base/evaluate.yaml': yaml(
      `A run whose model does no better than ${regression ? 'always predicting the training mean (RMSE)' : 'always predicting the majority class (macro-F1)'} fails outright.\n${regression ? 'minR2: a floor on R² (0 = the mean of the test targets).' : 'minMacroF1: a floor on macro-F1.'}`,
      { calibrationBins: 10, beatBaseline: true },
    ),
    'conf/ci/evaluate.yaml': yaml(
      'CI holds every candidate to the same baseline; add a floor once you know the data.',
      {
        beatBaseline: true,
      },
    ),
    'conf/base/gate.yaml': yaml(
      regression
        ? `Promote the candidate only if its held-out RMSE (lower is better) beats production's by\nminImprovement (in ${plan.target}'s units). \`cairn gate\` (CI) fails when it is worse by more than allowedRegression.`
        : "Promote the candidate only if its held-out macro-F1 beats production's by minImprovement.\n`cairn gate` (CI) fails when the candidate is worse than production by more than allowedRegression.",
      {
        metric: regression ? 'rmse' : 'macro_f1',
        direction: regression ? 'lower' : 'higher',
        minImprovement: regression ? Number((spread * 0.001).toPrecision(2)) : 0.005,
        allowedRegression: regression ? Number((spread * 0.02).toPrecision(2)) : 0.02,
        promoteTo: 'production',
        firstModelStage: 'production',
      },
    ),
    'conf/base/register.yaml': yaml('The name the model is registered under.', {
      model: name,
      description: `${plan.target} ${regression ? 'regression' : 'classifier'} on ${source.fileName}`,
    }),
    'conf/base/deploy.yaml': yaml(
      `The endpoint the production model serves under: POST /v1/endpoints/${name}/predict\ncanary: a newly promoted version answers \`percent\` of the units, the version before it the rest,\nand an A/B experiment judges it by the outcomes the application posts. ${regression ? 'The outcome: the absolute error of the prediction (lower is better).' : 'The outcome: was the prediction right (1) or not (0)?'}`,
      {
        endpoint: name,
        strategy: 'canary',
        percent: 20,
        metric: regression
          ? { name: 'abs_error', type: 'continuous', goal: 'decrease' }
          : { name: 'correct', type: 'binomial', goal: 'increase' },
      },
    ),
    'conf/base/loadtest.yaml': yaml(
      `The load test before the deploy (loadTestStep() from @cairn/delivery): the promoted candidate answers\nunder the staging endpoint ${name}-loadtest while the held-out rows are replayed at it. Any threshold\nbroken (p99Ms, minRps, maxErrorRate) fails the step and the deploy never runs: set them to your objectives.`,
      {
        endpoint: name,
        duration: 3,
        connections: 4,
        rowsPerRequest: 1,
        dropColumns: [plan.target],
        p99Ms: 2000,
        minRps: 5,
        maxErrorRate: 0.01,
      },
    ),
    'conf/base/current.yaml': yaml(
      'The current data of the monitoring pipeline: the rows the model server answered (its prediction log:\nset `predictionLog` in the deployer options of cairn.config.ts), when at least minRows were logged\nin the last sinceDays days, else the live data file of live.yaml.',
      { endpoint: name, minRows: 30, sinceDays: 7 },
    ),
    'conf/base/canary-review.yaml': yaml(
      'The endpoint whose canary this step judges (conf/base/deploy.yaml deploys it).',
      { endpoint: name },
    ),
    'conf/base/drift.yaml': yaml(
      'When the live data counts as drifted (driftStep() from @cairn/tabular): a column drifts when its\nPopulation Stability Index reaches psiThreshold or the two-sample test gives a p-value below\npValueThreshold. The time column always moves: it is left out.',
      {
        psiThreshold: 0.2,
        pValueThreshold: 0.001,
        minRows: 30,
        bins: 10,
        ignore: plan.timeColumn ? [plan.timeColumn] : [],
      },
    ),
  };
}
