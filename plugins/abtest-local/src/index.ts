/**
 * @cairn/abtest-local — the embedded A/B testing engine: experiments,
 * exposures and outcomes in one SQLite file, analysis aggregated in SQL and
 * judged with @cairn/stats.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type AbTestDescriptor,
  type AbTestEngine,
  type Assignment,
  CairnError,
  canonicalJson,
  ErrorCodes,
  type EventOptions,
  type Experiment,
  type ExperimentAnalysis,
} from '@cairn/core';
import { assignVariant } from '@cairn/stats';
import type BetterSqlite3 from 'better-sqlite3';
import { analyzeAggregates, comparisonKey, type VariantAggregate } from './analysis';
import {
  checkUnitId,
  eventId,
  eventTime,
  invalid,
  type NormalizedDefinition,
  normalizeDefinition,
} from './definition';
import { migrate } from './schema';

export interface LocalAbtestOptions {
  /**
   * The SQLite file, resolved against the working directory when the factory
   * is called; `':memory:'` keeps everything in memory for one engine.
   * @default '<stateDir>/abtest.db'
   */
  file?: string;
}

/** One counted look of a comparison: the always-valid p-value then, and the units it saw. */
export interface SequentialPoint {
  metric: string;
  /** The treatment compared with the control. */
  variant: string;
  /** When the look was analyzed (ISO 8601). */
  at: string;
  /** The always-valid p-value after this look (a running minimum, so it never rises). */
  pValue: number;
  /** Units exposed in the control and this treatment at the look. */
  units: number;
}

/** The embedded engine: the A/B contract, plus the sequential p-value over time. */
export interface LocalAbTestEngine extends AbTestEngine {
  /**
   * Every counted look of an experiment's comparisons, oldest first: one
   * point per analysis whose p-value or units moved. Looks before both arms
   * reach `minimumSampleSize` are not counted.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND for an unknown experiment
   */
  sequentialHistory(name: string): Promise<SequentialPoint[]>;
}

const PLUGIN = 'localAbtest';
const KNOWN_OPTIONS = new Set(['file']);
const BUSY_TIMEOUT_MS = 5000;

function optionError(option: string, message: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${PLUGIN}: option "${option}" ${message}`, {
    context: { plugin: '@cairn/abtest-local', option },
  });
}

function normalizeOptions(input: unknown): LocalAbtestOptions {
  if (input === undefined) return {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw optionError('options', `must be an options object, got ${JSON.stringify(input)}`);
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_OPTIONS.has(key))
      throw optionError(key, `is unknown (known: ${[...KNOWN_OPTIONS].join(', ')})`);
  }
  const { file } = input as LocalAbtestOptions;
  if (file === undefined) return {};
  if (typeof file !== 'string' || file.trim() === '' || file.includes('\0')) {
    throw optionError('file', `must be a non-empty file path or ':memory:', got ${JSON.stringify(file)}`);
  }
  return { file: file === ':memory:' ? file : resolve(file) };
}

interface ExperimentRow {
  name: string;
  definition: string;
  status: Experiment['status'];
  created_at: string;
  concluded_at: string | null;
  winner: string | null;
  reason: string | null;
}

interface AggregateRow {
  variant: string;
  units: number;
  sum: number;
  sumOfSquares: number;
}

function toExperiment(row: ExperimentRow): Experiment {
  const experiment: Experiment = {
    ...(JSON.parse(row.definition) as NormalizedDefinition),
    status: row.status,
    createdAt: row.created_at,
  };
  if (row.concluded_at !== null) experiment.concludedAt = row.concluded_at;
  if (row.winner !== null) experiment.winner = row.winner;
  if (row.reason !== null) experiment.reason = row.reason;
  return experiment;
}

// The per-unit value of a metric: the sum of its outcomes (continuous) or
// whether any was non-zero (binomial). Units with no outcome count as 0.
const aggregateSql = (perUnit: string) => `
  SELECT e.variant AS variant, COUNT(*) AS units, TOTAL(u.v) AS sum, TOTAL(u.v * u.v) AS sumOfSquares
  FROM exposures e
  LEFT JOIN (
    SELECT unit_id, ${perUnit} AS v FROM outcomes
    WHERE experiment = @experiment AND metric = @metric
    GROUP BY unit_id
  ) u ON u.unit_id = e.unit_id
  WHERE e.experiment = @experiment
  GROUP BY e.variant`;

function prepare(db: BetterSqlite3.Database) {
  return {
    getExperiment: db.prepare('SELECT * FROM experiments WHERE name = ?'),
    getState: db.prepare('SELECT status, winner FROM experiments WHERE name = ?'),
    listExperiments: db.prepare('SELECT * FROM experiments ORDER BY created_at DESC, rowid DESC'),
    insertExperiment: db.prepare(
      "INSERT INTO experiments (name, definition, status, created_at) VALUES (?, ?, 'running', ?)",
    ),
    concludeExperiment: db.prepare(
      "UPDATE experiments SET status = 'concluded', concluded_at = ?, winner = ?, reason = ? WHERE name = ?",
    ),
    insertExposure: db.prepare(
      'INSERT OR IGNORE INTO exposures (experiment, unit_id, variant, at) VALUES (?, ?, ?, ?)',
    ),
    insertOutcome: db.prepare(
      'INSERT OR IGNORE INTO outcomes (experiment, unit_id, metric, value, at, event_id) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    previousPValues: db.prepare(
      'SELECT metric, variant, p_value FROM sequential_p_values WHERE experiment = ?',
    ),
    // Only a lower p replaces the stored one: the running minimum holds even when two processes
    // analyze at once, `at` is when it was reached, and a look that lowers nothing writes nothing
    // (a read-only dashboard analyzing unchanged data leaves the file as it was).
    savePValue: db.prepare(
      `INSERT INTO sequential_p_values (experiment, metric, variant, p_value, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (experiment, metric, variant) DO UPDATE SET p_value = excluded.p_value, at = excluded.at
       WHERE excluded.p_value < sequential_p_values.p_value`,
    ),
    lastPoint: db.prepare(
      `SELECT p_value, units FROM sequential_p_history WHERE experiment = ? AND metric = ? AND variant = ?
       ORDER BY seq DESC LIMIT 1`,
    ),
    appendPoint: db.prepare(
      'INSERT INTO sequential_p_history (experiment, metric, variant, at, p_value, units) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    history: db.prepare(
      `SELECT metric, variant, at, p_value AS pValue, units FROM sequential_p_history
       WHERE experiment = ? ORDER BY seq`,
    ),
    binomial: db.prepare(aggregateSql('MAX(value <> 0)')),
    continuous: db.prepare(aggregateSql('SUM(value)')),
  };
}

/**
 * The embedded A/B testing engine. `create` opens (and creates or migrates)
 * the SQLite file in WAL mode, so several processes of one machine can log
 * to one experiment; better-sqlite3 loads only then.
 *
 * @example
 * ```ts
 * // cairn.config.ts
 * import { localAbtest } from '@cairn/abtest-local';
 * export default defineConfig({ stack: { abtest: localAbtest() } });
 * ```
 */
export function localAbtest(options?: LocalAbtestOptions): AbTestDescriptor<LocalAbtestOptions> {
  const normalized = normalizeOptions(options);
  return {
    kind: 'abtest',
    name: 'local',
    options: normalized,
    create: (context) => openEngine(normalized.file ?? join(resolve(context.stateDir), 'abtest.db')),
  };
}

async function openEngine(file: string): Promise<LocalAbTestEngine> {
  let Database: typeof BetterSqlite3;
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (error) {
    throw new CairnError(ErrorCodes.METADATA_FAILED, `${PLUGIN}: better-sqlite3 could not be loaded`, {
      cause: error,
      hint: 'Install it: npm install better-sqlite3',
    });
  }
  const fail = (error: unknown, doing: string): never => {
    if (CairnError.is(error)) throw error;
    throw new CairnError(
      ErrorCodes.METADATA_FAILED,
      `A/B test database ${file}: ${doing} failed: ${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
  };

  let db: BetterSqlite3.Database | undefined;
  let sql: ReturnType<typeof prepare>;
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (file !== ':memory:') {
      db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL survives a crashed process (only an OS crash can lose the last commits).
      db.pragma('synchronous = NORMAL');
    }
    migrate(db, file);
    sql = prepare(db);
  } catch (error) {
    db?.close();
    const cause = error as Error;
    if (!CairnError.is(error) && /not a database|malformed|corrupt/i.test(cause?.message ?? '')) {
      throw new CairnError(
        ErrorCodes.METADATA_FAILED,
        `A/B test database ${file} is not a readable SQLite database (${cause.message})`,
        {
          cause: error,
          hint: 'Point the `file` option of localAbtest at another path, or move this file away',
        },
      );
    }
    return fail(error, 'opening');
  }
  const conn = db;
  let closed = false;

  // Definitions never change once stored, so each is parsed once per engine;
  // status and winner are read on every call because another engine may conclude.
  const definitions = new Map<string, NormalizedDefinition>();

  const use = <T>(doing: string, fn: () => T): T => {
    if (closed)
      throw new CairnError(ErrorCodes.METADATA_FAILED, `A/B test database ${file}: ${doing} after close()`);
    try {
      return fn();
    } catch (error) {
      return fail(error, doing);
    }
  };

  const notFound = (name: unknown) =>
    new CairnError(
      ErrorCodes.EXPERIMENT_NOT_FOUND,
      `No A/B experiment named ${JSON.stringify(name)} in ${file}`,
    );

  /** The stored definition and live state of an experiment, or NOT_FOUND. */
  function load(name: string): {
    definition: NormalizedDefinition;
    status: Experiment['status'];
    winner: string | null;
  } {
    if (typeof name !== 'string') throw notFound(name);
    const cached = definitions.get(name);
    if (cached) {
      const state = sql.getState.get(name) as Pick<ExperimentRow, 'status' | 'winner'>;
      return { definition: cached, status: state.status, winner: state.winner };
    }
    const row = sql.getExperiment.get(name) as ExperimentRow | undefined;
    if (!row) throw notFound(name);
    const definition = JSON.parse(row.definition) as NormalizedDefinition;
    definitions.set(name, definition);
    return { definition, status: row.status, winner: row.winner };
  }

  function assignment(name: string, unitId: string): Assignment {
    const { definition, status, winner } = load(name);
    const variantOf = (variantName: string, inExperiment: boolean): Assignment => {
      const variant = definition.variants.find((v) => v.name === variantName)!;
      const out: Assignment = { experiment: name, unitId, variant: variant.name, inExperiment };
      if (variant.payload !== undefined) out.payload = variant.payload;
      return out;
    };
    if (status === 'concluded') return variantOf(winner!, false);
    const index = assignVariant(
      definition.seed,
      unitId,
      definition.variants.map((v) => v.weight),
      { coverage: definition.coverage, hashVersion: definition.hashVersion },
    );
    return index < 0
      ? variantOf(definition.control, false)
      : variantOf(definition.variants[index]!.name, true);
  }

  const createTx = conn.transaction((definition: NormalizedDefinition, text: string, createdAt: string) => {
    const existing = sql.getExperiment.get(definition.name) as ExperimentRow | undefined;
    if (existing) {
      if (existing.definition !== text) {
        throw invalid(
          `Experiment "${definition.name}" already exists with a different definition`,
          'Create a new experiment under another name; a running experiment cannot change',
        );
      }
      return existing;
    }
    sql.insertExperiment.run(definition.name, text, createdAt);
    return sql.getExperiment.get(definition.name) as ExperimentRow;
  });

  const concludeTx = conn.transaction((name: string, winner: string, reason: string, at: string) => {
    const row = sql.getExperiment.get(name) as ExperimentRow | undefined;
    if (!row) throw notFound(name);
    if (row.status === 'concluded') {
      if (row.winner !== winner) {
        throw invalid(
          `Experiment "${name}" is already concluded with winner "${row.winner}", not "${winner}"`,
        );
      }
      return row;
    }
    sql.concludeExperiment.run(at, winner, reason, name);
    return sql.getExperiment.get(name) as ExperimentRow;
  });

  return {
    async createExperiment(input) {
      const definition = normalizeDefinition(input);
      const text = canonicalJson(definition);
      return use('createExperiment', () =>
        toExperiment(createTx.immediate(definition, text, new Date().toISOString())),
      );
    },

    async getExperiment(name) {
      return use('getExperiment', () => {
        const row = sql.getExperiment.get(name) as ExperimentRow | undefined;
        return row && toExperiment(row);
      });
    },

    async listExperiments() {
      return use('listExperiments', () => (sql.listExperiments.all() as ExperimentRow[]).map(toExperiment));
    },

    async assign(name, unitId) {
      return use('assign', () => assignment(name, checkUnitId(name, unitId)));
    },

    async recordExposure(name, unitId, options: EventOptions = {}) {
      use('recordExposure', () => {
        const assigned = assignment(name, checkUnitId(name, unitId));
        const at = eventTime(name, options.at);
        if (!assigned.inExperiment) {
          const { status } = load(name);
          throw invalid(
            status === 'concluded'
              ? `Experiment "${name}" is concluded: exposures are no longer recorded`
              : `Experiment "${name}": unit ${JSON.stringify(unitId)} is outside the experiment's coverage; do not record its exposure`,
            'Record an exposure only when assign() returned inExperiment: true',
          );
        }
        sql.insertExposure.run(name, unitId, assigned.variant, at);
      });
    },

    async recordOutcome(name, unitId, metricName, value, options: EventOptions = {}) {
      use('recordOutcome', () => {
        const { definition } = load(name);
        checkUnitId(name, unitId);
        const metric = [definition.primaryMetric, ...definition.guardrailMetrics].find(
          (m) => m.name === metricName,
        );
        if (!metric) {
          throw invalid(
            `Experiment "${name}" has no metric ${JSON.stringify(metricName)} (metrics: ${[
              definition.primaryMetric,
              ...definition.guardrailMetrics,
            ]
              .map((m) => m.name)
              .join(', ')})`,
          );
        }
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          throw invalid(
            `Experiment "${name}": metric "${metricName}" value must be a finite number, got ${value}`,
          );
        }
        if (metric.type === 'binomial' && value !== 0 && value !== 1) {
          throw invalid(`Experiment "${name}": binomial metric "${metricName}" takes 0 or 1, got ${value}`);
        }
        sql.insertOutcome.run(
          name,
          unitId,
          metricName,
          value,
          eventTime(name, options.at),
          eventId(name, options.eventId),
        );
      });
    },

    async analyze(name): Promise<ExperimentAnalysis> {
      return use('analyze', () => {
        const { definition } = load(name);
        // One transaction: exposures and every metric from the same snapshot, and the
        // running minimum of each always-valid p-value read and written without a race.
        return conn
          .transaction(() => {
            const previous = new Map(
              (
                sql.previousPValues.all(name) as Array<{ metric: string; variant: string; p_value: number }>
              ).map((r) => [comparisonKey(r.metric, r.variant), r.p_value]),
            );
            const metrics = new Map<string, VariantAggregate[]>();
            let exposures: Record<string, number> = {};
            for (const metric of [definition.primaryMetric, ...definition.guardrailMetrics]) {
              const rows = (metric.type === 'binomial' ? sql.binomial : sql.continuous).all({
                experiment: name,
                metric: metric.name,
              }) as AggregateRow[];
              metrics.set(metric.name, rows);
              exposures = Object.fromEntries(rows.map((r) => [r.variant, r.units]));
            }
            const analyzedAt = new Date().toISOString();
            const analysis = analyzeAggregates(definition, exposures, metrics, analyzedAt, previous);
            // A look counts toward the running minimum once both arms have minimumSampleSize
            // units: before that the plug-in variances are too rough to be carried forward.
            const seen = (metric: string, variant: string) =>
              metrics.get(metric)?.find((a) => a.variant === variant)?.units ?? 0;
            for (const result of [analysis.primary, ...analysis.guardrails]) {
              for (const c of result.comparisons) {
                if (
                  Number.isFinite(c.sequentialPValue) &&
                  seen(result.metric, definition.control) >= definition.minimumSampleSize &&
                  seen(result.metric, c.variant) >= definition.minimumSampleSize
                ) {
                  sql.savePValue.run(name, result.metric, c.variant, c.sequentialPValue, analyzedAt);
                  const units = seen(result.metric, definition.control) + seen(result.metric, c.variant);
                  const last = sql.lastPoint.get(name, result.metric, c.variant) as
                    | { p_value: number; units: number }
                    | undefined;
                  if (!last || last.p_value !== c.sequentialPValue || last.units !== units)
                    sql.appendPoint.run(
                      name,
                      result.metric,
                      c.variant,
                      analyzedAt,
                      c.sequentialPValue,
                      units,
                    );
                }
              }
            }
            return analysis;
          })
          .immediate();
      });
    },

    async sequentialHistory(name) {
      return use('sequentialHistory', () => {
        load(name);
        return sql.history.all(name) as SequentialPoint[];
      });
    },

    async conclude(name, decision) {
      return use('conclude', () => {
        const { definition } = load(name);
        const winner = decision?.winner;
        if (typeof winner !== 'string' || !definition.variants.some((v) => v.name === winner)) {
          throw invalid(
            `Experiment "${name}": winner ${JSON.stringify(winner)} is not one of its variants (${definition.variants
              .map((v) => v.name)
              .join(', ')})`,
          );
        }
        const reason = decision.reason;
        if (typeof reason !== 'string' || reason.trim() === '') {
          throw invalid(
            `Experiment "${name}": conclude needs a reason (one sentence), got ${JSON.stringify(reason)}`,
          );
        }
        return toExperiment(concludeTx.immediate(name, winner, reason, new Date().toISOString()));
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      conn.close();
    },
  };
}

export default localAbtest;
