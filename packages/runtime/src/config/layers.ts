import type { Document, LineCounter, Node } from 'yaml';
import { type ConfigObject, dotted, findNonFinite, isPlainObject, listPaths } from './merge';
import { yaml } from './yaml';

/** Where a layer came from, as reported in `sources` and in error messages. */
export type LayerSource = string;

/** One config layer of one step: a file, the inline config, or the `--set` flags. */
export interface Layer {
  /** File path relative to the project, `inline` or `--set`. */
  source: LayerSource;
  /** True when `source` is a file (then issue paths are relative to the step's config). */
  file: boolean;
  value: ConfigObject;
  /** Every key path the layer sets (dotted) → the line that sets it, when known. */
  lines: Map<string, number | undefined>;
}

/** A problem found while reading a layer, before any schema sees it. */
export interface LayerProblem {
  kind: 'unreadable' | 'invalid';
  line?: number;
  path?: string[];
  message: string;
}

/**
 * Parse a step config file (YAML, or JSON, which YAML 1.2 reads too) into a
 * layer that remembers the line of every key, so that schema errors can name
 * `conf/ci/train.yaml:3`.
 */
export function parseLayerFile(
  text: string,
  source: string,
): { layer: Layer } | { problems: LayerProblem[] } {
  const flat = parseFlatLayer(text, source);
  if (flat) return { layer: flat };
  const { LineCounter, parseDocument, isMap, isScalar, isSeq } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((error) => ({
        kind: 'unreadable' as const,
        line: lineCounter.linePos(error.pos[0]).line,
        message: `YAML syntax error: ${error.message}`,
      })),
    };
  }
  const contents = doc.contents;
  // An empty file (or only comments) is an empty config, not an error.
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    return { layer: { source, file: true, value: {}, lines: new Map() } };
  }
  if (!isMap(contents)) {
    const got = isSeq(contents) ? 'a list' : `a ${typeof (isScalar(contents) ? contents.value : contents)}`;
    return {
      problems: [
        {
          kind: 'unreadable',
          line: 1,
          message: `a step config file must be a mapping of keys to values (key: value), got ${got}`,
        },
      ],
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (cause) {
    // yaml throws (a ReferenceError) for an alias to an unknown anchor and for alias bombs ("billion laughs").
    return { problems: [aliasProblem(doc, lineCounter, cause)] };
  }
  if (!isPlainObject(value)) {
    return { problems: [{ kind: 'unreadable', line: 1, message: 'a step config file must be a mapping' }] };
  }
  const nonFinite = findNonFinite(value);
  const lines = new Map<string, number | undefined>();
  collectLines(contents, [], lines, lineCounter);
  if (nonFinite) {
    return {
      problems: [
        {
          kind: 'invalid',
          line: lines.get(dotted(nonFinite)),
          path: nonFinite,
          message: '.inf and .nan cannot be stored as JSON (the stored config and the cache key are JSON)',
        },
      ],
    };
  }
  return { layer: { source, file: true, value, lines } };
}

/** Aliases one config may expand: enough for shared blocks, far too few for an exponential "billion laughs". */
const MAX_ALIAS_COUNT = 100;

/** Describe a failure to expand YAML aliases, at the first alias whose anchor is unknown when there is one. */
function aliasProblem(doc: Document, counter: LineCounter, cause: unknown): LayerProblem {
  let line: number | undefined;
  let unknownAnchor: string | undefined;
  const { visit } = yaml();
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return undefined;
      unknownAnchor = alias.source;
      line = alias.range ? counter.linePos(alias.range[0]).line : undefined;
      return visit.BREAK;
    },
  });
  const message = unknownAnchor
    ? `YAML alias *${unknownAnchor} refers to no anchor (&${unknownAnchor}) defined before it`
    : `YAML aliases expand too far (more than ${MAX_ALIAS_COUNT} uses: ${(cause as Error)?.message ?? String(cause)})`;
  return { kind: 'unreadable', ...(line !== undefined ? { line } : {}), message };
}

/** `key: value` with a plain key and nothing YAML could read in more than one way. */
const FLAT_LINE = /^([A-Za-z_][A-Za-z0-9_-]*):[ \t]+(.*?)[ \t]*$/;
const COMMENT_OR_BLANK = /^[ \t]*(#.*)?$/;
const INTEGER = /^-?(0|[1-9][0-9]{0,14})$/;
const DECIMAL = /^-?(0|[1-9][0-9]{0,14})\.[0-9]{1,15}$/;
const PLAIN_WORD = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** Words the YAML 1.2 core schema reads as something other than a string. */
const NOT_STRINGS = new Set(['true', 'false', 'True', 'False', 'TRUE', 'FALSE', 'null', 'Null', 'NULL']);

/**
 * The common case without the YAML parser: a project has one small file per
 * step, mostly empty or a few `key: number` lines, and parsing each with the
 * full parser was a third of a no-op run at 1,000 steps. Only lines whose
 * meaning is unambiguous in YAML 1.2 qualify (plain keys; integers, decimals,
 * true/false, plain words; comments and blank lines); anything else —
 * nesting, quotes, lists, anchors, duplicate keys, tabs in front — returns
 * `undefined` and goes through the full parser, so the result (values and
 * line numbers) is what the parser would give.
 */
export function parseFlatLayer(text: string, source: string): Layer | undefined {
  const value: ConfigObject = {};
  const lines = new Map<string, number | undefined>();
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!.endsWith('\r') ? rows[i]!.slice(0, -1) : rows[i]!;
    if (COMMENT_OR_BLANK.test(row)) {
      // `---` or `...` markers and indented text are not "blank": they fail both tests below.
      continue;
    }
    const match = FLAT_LINE.exec(row);
    if (!match) return undefined;
    const key = match[1]!;
    let raw = match[2]!;
    const hash = raw.indexOf(' #');
    if (hash >= 0) raw = raw.slice(0, hash).trimEnd();
    if (raw.includes('#') || Object.hasOwn(value, key) || key === '__proto__') return undefined;
    let parsed: unknown;
    if (INTEGER.test(raw) || DECIMAL.test(raw)) parsed = Number(raw);
    else if (raw === 'true' || raw === 'false') parsed = raw === 'true';
    else if (PLAIN_WORD.test(raw) && !NOT_STRINGS.has(raw)) parsed = raw;
    else return undefined;
    value[key] = parsed;
    lines.set(dotted([key]), i + 1);
  }
  return { source, file: true, value, lines };
}

function collectLines(
  node: unknown,
  path: string[],
  lines: Map<string, number | undefined>,
  counter: LineCounter,
) {
  const lineOf = (target: unknown) => {
    const range = (target as Node | null)?.range;
    return range ? counter.linePos(range[0]).line : undefined;
  };
  const { isMap, isPair, isScalar, isSeq } = yaml();
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const keyPath = [...path, key];
      lines.set(dotted(keyPath), lineOf(pair.key) ?? lineOf(pair.value));
      collectLines(pair.value, keyPath, lines, counter);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const itemPath = [...path, String(index)];
      lines.set(dotted(itemPath), lineOf(item));
      collectLines(item, itemPath, lines, counter);
    });
  }
  // Keys inside an alias are not listed: lookups fall back to the alias's own key and line.
}

/** A layer built from data (inline config, `--set` flags): paths are known, lines are not. */
export function dataLayer(source: LayerSource, value: ConfigObject): Layer {
  const lines = new Map<string, number | undefined>();
  for (const path of listPaths(value)) lines.set(dotted(path), undefined);
  return { source, file: false, value, lines };
}
