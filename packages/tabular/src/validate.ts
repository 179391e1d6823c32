import { CairnError, ErrorCodes, type ErrorIssue, formatIssues } from '@cairn/core';
import { escapeHtml, formatNumber, htmlReport } from './html';
import { type ColumnStats, summarize } from './stats';
import { type CellValue, type ColumnType, Table, tableFromRows } from './table';

/** What one column must satisfy. Rules left out are not checked. */
export interface ColumnExpectation {
  /** The column's type. When it differs, the column's other rules are not checked. */
  type?: ColumnType;
  /** The only values allowed (string and boolean columns, or exact numbers). */
  allowed?: ReadonlyArray<string | number | boolean>;
  /** Smallest allowed value (number columns; dates take a `Date`, epoch ms or an ISO string). */
  min?: number | string | Date;
  /** Largest allowed value. */
  max?: number | string | Date;
  /** Largest allowed fraction of missing values, 0 to 1. `0`: no value may be missing. */
  maxMissing?: number;
}

/** What a table must satisfy; build it with {@link expectSchema}. */
export interface TableExpectation {
  columns: Record<string, ColumnExpectation>;
  /** Fewest rows the table may have. @default 0 */
  minRows?: number;
  /** Whether columns not named in `columns` are allowed. @default true */
  allowExtraColumns?: boolean;
}

/** The rule a violation breaks. */
export type ValidationRule =
  | 'min-rows'
  | 'missing-column'
  | 'extra-column'
  | 'type'
  | 'range'
  | 'allowed'
  | 'max-missing';

/** One broken rule. */
export interface Violation {
  /** The column it is about; absent for table-level rules (`min-rows`). */
  column?: string;
  rule: ValidationRule;
  /** A sentence for people, naming the column and the rule. */
  message: string;
  /** How many values break the rule (range, allowed, max-missing). */
  count?: number;
  /** A few offending values (dates as ISO strings). */
  examples?: Array<string | number | boolean>;
}

/** The JSON form of a {@link ValidationReport} (what a `json()` artifact stores). */
export interface ValidationReportData {
  ok: boolean;
  rows: number;
  violations: Violation[];
  /** Statistics of every column of the validated table. */
  stats: ColumnStats[];
}

const RULE_KEYS = new Set(['type', 'allowed', 'min', 'max', 'maxMissing']);
const TABLE_KEYS = new Set(['columns', 'minRows', 'allowExtraColumns']);
const TYPES = new Set<ColumnType>(['number', 'string', 'boolean', 'date']);
const EXAMPLES = 5;

/**
 * Declare what a table must look like, checked for mistakes now (unknown
 * rule, `min` above `max`, `maxMissing` outside 0–1) rather than at
 * validation time. The result is plain JSON, so it can live in a step config.
 *
 * @example
 * ```ts
 * const penguinSchema = expectSchema({
 *   columns: {
 *     species: { type: 'string', allowed: ['Adelie', 'Chinstrap', 'Gentoo'], maxMissing: 0 },
 *     bill_length_mm: { type: 'number', min: 25, max: 70, maxMissing: 0.05 },
 *   },
 *   minRows: 100,
 * });
 * ```
 */
export function expectSchema(expectation: TableExpectation): TableExpectation {
  const issues: ErrorIssue[] = [];
  const add = (path: Array<string>, message: string) =>
    issues.push({ source: 'expectSchema', path, message });
  if (typeof expectation !== 'object' || expectation === null) {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, 'expectSchema expects { columns: { … } }');
  }
  for (const key of Object.keys(expectation)) {
    if (!TABLE_KEYS.has(key)) add([key], `unknown option; expected one of ${[...TABLE_KEYS].join(', ')}`);
  }
  const { columns, minRows, allowExtraColumns } = expectation;
  if (minRows !== undefined && !(Number.isInteger(minRows) && minRows >= 0)) {
    add(['minRows'], `must be a non-negative integer, got ${JSON.stringify(minRows)}`);
  }
  if (allowExtraColumns !== undefined && typeof allowExtraColumns !== 'boolean') {
    add(['allowExtraColumns'], 'must be true or false');
  }
  if (typeof columns !== 'object' || columns === null || Array.isArray(columns)) {
    add(['columns'], 'must map column names to rules');
  } else {
    for (const [name, rules] of Object.entries(columns)) {
      const at = (key: string) => ['columns', name, key];
      if (typeof rules !== 'object' || rules === null) {
        add(['columns', name], 'must be an object of rules');
        continue;
      }
      for (const key of Object.keys(rules)) {
        if (!RULE_KEYS.has(key)) add(at(key), `unknown rule; expected one of ${[...RULE_KEYS].join(', ')}`);
      }
      if (rules.type !== undefined && !TYPES.has(rules.type)) {
        add(at('type'), `must be one of ${[...TYPES].join(', ')}, got ${JSON.stringify(rules.type)}`);
      }
      const bound = (key: 'min' | 'max') => {
        const value = rules[key];
        if (value === undefined) return undefined;
        const ms = toBound(value, rules.type);
        if (ms === undefined) add(at(key), `must be a number${rules.type === 'date' ? ' or a date' : ''}`);
        return ms;
      };
      const min = bound('min');
      const max = bound('max');
      if (min !== undefined && max !== undefined && min > max)
        add(at('min'), `is above max (${min} > ${max})`);
      if (rules.maxMissing !== undefined) {
        const m = rules.maxMissing;
        if (typeof m !== 'number' || !(m >= 0 && m <= 1)) {
          add(at('maxMissing'), `must be a fraction between 0 and 1, got ${JSON.stringify(m)}`);
        }
      }
      if (rules.allowed !== undefined) {
        if (
          !Array.isArray(rules.allowed) ||
          rules.allowed.some((v) => !['string', 'number', 'boolean'].includes(typeof v))
        ) {
          add(at('allowed'), 'must be an array of strings, numbers or booleans');
        }
      }
    }
  }
  if (issues.length > 0) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `Invalid table expectation:\n${formatIssues(issues)}`,
      {
        issues,
      },
    );
  }
  return expectation;
}

function toBound(value: unknown, type: ColumnType | undefined): number | undefined {
  if (typeof value === 'number' && !Number.isNaN(value)) return value;
  if (type === 'date' && (value instanceof Date || typeof value === 'string')) {
    const ms = new Date(value).getTime();
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/**
 * Check a table against an expectation. Never throws for bad data: the
 * report lists every violation; pass it to {@link assertValid} to stop a step.
 */
export function validateTable(
  data: Table<any> | readonly object[],
  expectation: TableExpectation,
): ValidationReport {
  expectSchema(expectation);
  const table = Table.isTable(data) ? data : tableFromRows(data as readonly object[]);
  const violations: Violation[] = [];
  const rows = table.numRows;
  if (expectation.minRows !== undefined && rows < expectation.minRows) {
    violations.push({
      rule: 'min-rows',
      message: `table has ${rows} rows, fewer than the ${expectation.minRows} expected`,
    });
  }
  const stats = table.schema.fields.map((f) => summarize(f.name, f.type, table.column(f.name)));
  const byName = new Map(stats.map((s) => [s.name, s]));
  for (const [name, rules] of Object.entries(expectation.columns)) {
    const column = byName.get(name);
    if (column === undefined) {
      violations.push({
        column: name,
        rule: 'missing-column',
        message: `column "${name}" is missing (the table has ${table.columnNames.map((n) => `"${n}"`).join(', ') || 'no columns'})`,
      });
      continue;
    }
    const values = table.column(name) as CellValue[];
    if (rules.type !== undefined && rules.type !== column.type) {
      let detail = '';
      if (rules.type === 'number' && column.type === 'string') {
        const bad = distinct(values.filter((v) => v !== null && Number.isNaN(Number(v))));
        if (bad.length > 0)
          detail = `; non-numeric values such as ${bad.map((v) => JSON.stringify(v)).join(', ')}`;
      }
      violations.push({
        column: name,
        rule: 'type',
        message: `column "${name}" is ${column.type}, expected ${rules.type}${detail}`,
      });
      continue;
    }
    if (rules.maxMissing !== undefined && column.missingFraction > rules.maxMissing) {
      violations.push({
        column: name,
        rule: 'max-missing',
        count: column.missing,
        message: `column "${name}" has ${column.missing} missing values (${percent(column.missingFraction)}), more than the ${percent(rules.maxMissing)} allowed`,
      });
    }
    const min = rules.min === undefined ? undefined : toBound(rules.min, column.type);
    const max = rules.max === undefined ? undefined : toBound(rules.max, column.type);
    if (min !== undefined || max !== undefined) {
      const outside = values.filter((v) => {
        if (v === null) return false;
        const n = v instanceof Date ? v.getTime() : Number(v);
        return (min !== undefined && n < min) || (max !== undefined && n > max);
      });
      if (outside.length > 0) {
        const range = `[${min === undefined ? '-∞' : show(rules.min!)}, ${max === undefined ? '∞' : show(rules.max!)}]`;
        const examples = distinct(outside);
        violations.push({
          column: name,
          rule: 'range',
          count: outside.length,
          examples,
          message: `column "${name}" has ${outside.length} values outside ${range}, e.g. ${examples.map(show).join(', ')}`,
        });
      }
    }
    if (rules.allowed !== undefined) {
      const allowed = new Set<unknown>(rules.allowed);
      const unknown = values.filter((v) => v !== null && !allowed.has(v));
      if (unknown.length > 0) {
        const examples = distinct(unknown);
        violations.push({
          column: name,
          rule: 'allowed',
          count: unknown.length,
          examples,
          message: `column "${name}" has ${unknown.length} values not in the allowed set, e.g. ${examples.map((v) => JSON.stringify(v)).join(', ')}`,
        });
      }
    }
  }
  if (expectation.allowExtraColumns === false) {
    for (const name of table.columnNames) {
      if (!(name in expectation.columns)) {
        violations.push({ column: name, rule: 'extra-column', message: `column "${name}" is not expected` });
      }
    }
  }
  return new ValidationReport({ ok: violations.length === 0, rows, violations, stats });
}

/** Up to five distinct values in first-seen order, dates as ISO strings. */
function distinct(values: readonly CellValue[]): Array<string | number | boolean> {
  const out = new Set<string | number | boolean>();
  for (const v of values) {
    if (v === null) continue;
    out.add(v instanceof Date ? v.toISOString() : v);
    if (out.size === EXAMPLES) break;
  }
  return [...out];
}

function show(value: string | number | boolean | Date): string {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'number' ? formatNumber(value) : String(value);
}

function percent(fraction: number): string {
  return `${formatNumber(fraction * 100)}%`;
}

/**
 * The outcome of {@link validateTable}: whether the table passed, every
 * violation, and statistics of every column. `toJSON()` is what a `json()`
 * artifact stores; {@link ValidationReport.fromJSON} brings the methods back.
 */
export class ValidationReport implements ValidationReportData {
  readonly ok: boolean;
  readonly rows: number;
  readonly violations: Violation[];
  readonly stats: ColumnStats[];

  constructor(data: ValidationReportData) {
    this.ok = data.ok;
    this.rows = data.rows;
    this.violations = data.violations;
    this.stats = data.stats;
  }

  /** Rebuild a report from its JSON form (e.g. a `json()` artifact read in the next step). */
  static fromJSON(data: ValidationReportData): ValidationReport {
    if (
      typeof data !== 'object' ||
      data === null ||
      typeof data.ok !== 'boolean' ||
      !Array.isArray(data.violations) ||
      !Array.isArray(data.stats)
    ) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        'not a validation report: expected { ok, violations, stats }',
      );
    }
    return new ValidationReport(data);
  }

  toJSON(): ValidationReportData {
    return { ok: this.ok, rows: this.rows, violations: this.violations, stats: this.stats };
  }

  /** The report as Markdown: verdict, violations, then a statistics table. */
  toMarkdown(): string {
    const lines = [
      `# Data validation ${this.ok ? 'passed' : 'failed'}`,
      '',
      `${this.rows} rows, ${this.stats.length} columns, ${this.violations.length} violations.`,
      '',
    ];
    if (this.violations.length > 0) {
      lines.push('## Violations', '');
      for (const v of this.violations) lines.push(`- **${v.rule}**: ${mdEscape(v.message)}`);
      lines.push('');
    }
    lines.push('## Columns', '', '| column | type | missing | min | mean | max | std | top values |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const s of this.stats) {
      const n = s.numeric;
      const num = (v: number | undefined) =>
        v === undefined ? '' : s.type === 'date' ? new Date(v).toISOString() : formatNumber(v);
      const top = s.categories
        ? Object.entries(s.categories)
            .slice(0, 5)
            .map(([k, c]) => `${k} (${c})`)
            .join(', ')
        : '';
      lines.push(
        `| ${[
          s.name,
          s.type,
          `${s.missing} (${percent(s.missingFraction)})`,
          num(n?.min),
          num(n?.mean),
          num(n?.max),
          n && s.type !== 'date' ? formatNumber(n.std) : '',
          top,
        ]
          .map(mdEscape)
          .join(' | ')} |`,
      );
    }
    return `${lines.join('\n')}\n`;
  }

  /** The report as a self-contained HTML page. */
  toHtml(): string {
    const verdict = this.ok ? 'passed' : 'failed';
    const [, ...body] = this.toMarkdown().split('\n');
    return htmlReport({
      title: `Data validation ${verdict}`,
      sections: [
        {
          heading: this.ok ? 'All checks passed' : `${this.violations.length} violations`,
          html: `<p style="color:${this.ok ? '#1a7f37' : '#cf222e'};font-weight:600">${escapeHtml(verdict.toUpperCase())}</p>`,
          markdown: body.join('\n'),
        },
      ],
    });
  }
}

function mdEscape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * Throw a `CAIRN_DATA_INVALID` error naming each offending column when the
 * report did not pass; return it unchanged when it did.
 */
export function assertValid<R extends ValidationReportData>(report: R): R {
  if (report.ok) return report;
  const columns = [...new Set(report.violations.map((v) => v.column).filter((c): c is string => !!c))];
  const issues: ErrorIssue[] = report.violations.map((v) => ({
    source: v.column ?? 'table',
    message: `${v.rule}: ${v.message}`,
  }));
  const where = columns.length > 0 ? ` in columns ${columns.map((c) => `"${c}"`).join(', ')}` : '';
  throw new CairnError(
    ErrorCodes.DATA_INVALID,
    `Data validation failed${where} (${report.violations.length} violations):\n${formatIssues(issues)}`,
    { issues, hint: 'fix the data or, if the data is right, the expectation' },
  );
}
