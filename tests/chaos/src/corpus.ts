/**
 * At least a hundred ways to get `cairn run` input wrong: config files and
 * `--set` flags with unknown keys, wrong types, out-of-range values, YAML
 * aliases and syntax errors, bad `${env:}` references, control characters,
 * and malformed command-line flags. Each must exit 2 with a CAIRN_ code and
 * write nothing. The target is the fixture's `tuned` pipeline (conf/base/tune.yaml).
 */
export interface MalformedCase {
  name: string;
  /** The full argument list of `cairn`. */
  args: string[];
  /** Files to write (relative to the project) for this case; restored afterwards. */
  files?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** The code expected on stderr, when one is certain. */
  code?: string;
}

const CONF = 'conf/base/tune.yaml';

/** A well-formed tune.yaml, as a map of top-level lines, so one key at a time can be spoilt. */
const GOOD: Record<string, string> = {
  trees: 'trees: 100',
  depth: 'depth: 6',
  rate: 'rate: 0.1',
  name: 'name: forest',
  token: 'token: ${env:CHAOS_TOKEN}',
  tags: 'tags: [a, b]',
  mode: 'mode: fast',
  nested: 'nested:\n  bins: 16\n  on: true',
};

const withLine = (key: string, line: string) =>
  `${Object.entries(GOOD)
    .map(([k, v]) => (k === key ? line : v))
    .join('\n')}\n`;
const plus = (line: string) => `${Object.values(GOOD).join('\n')}\n${line}\n`;

const ESC = '\u001b';
const BEL = '\u0007';
const RLO = '\u202e';

export function malformedCorpus(): MalformedCase[] {
  const cases: MalformedCase[] = [];
  const file = (name: string, text: string, code?: string) =>
    cases.push({
      name: `file: ${name}`,
      args: ['run', 'tuned'],
      files: { [CONF]: text },
      ...(code ? { code } : {}),
    });
  const set = (name: string, assignment: string, code?: string) =>
    cases.push({
      name: `--set ${name}`,
      args: ['run', 'tuned', '--set', assignment],
      ...(code ? { code } : {}),
    });
  const flags = (name: string, args: string[], code?: string) =>
    cases.push({ name: `flags: ${name}`, args, ...(code ? { code } : {}) });

  // Unknown keys (typos), in the file and with --set.
  const typos: [string, string][] = [
    ['trees', 'tress: 100'],
    ['depth', 'depht: 6'],
    ['rate', 'rtae: 0.1'],
    ['name', 'nmae: forest'],
    ['token', 'tokn: ${env:CHAOS_TOKEN}'],
    ['tags', 'tgas: [a]'],
    ['mode', 'mdoe: fast'],
    ['nested', 'nested:\n  bnis: 16\n  on: true'],
    ['nested', 'nested:\n  bins: 16\n  no: true'],
  ];
  for (const [key, line] of typos)
    file(`typo ${line.split('\n').join(' ')}`, withLine(key, line), 'CAIRN_CONFIG_INVALID');
  file('an extra top-level key', plus('extra: 1'), 'CAIRN_CONFIG_INVALID');
  file('an extra nested key', plus('nested2: { deep: 1 }'), 'CAIRN_CONFIG_INVALID');
  for (const key of [
    'tress',
    'depht',
    'rtae',
    'nmae',
    'tgas',
    'mdoe',
    'nested.bnis',
    'nested.on.x',
    'extra',
    'nested.extra',
  ]) {
    set(`unknown key ${key}`, `tune.${key}=3`);
  }

  // Wrong types and values out of range.
  const wrong: [string, string][] = [
    ['trees', '"many"'],
    ['trees', '1.5'],
    ['trees', '0'],
    ['trees', '2e9'],
    ['trees', '-3'],
    ['trees', '[1, 2]'],
    ['trees', 'null'],
    ['depth', '33'],
    ['depth', 'true'],
    ['rate', '2'],
    ['rate', '-0.5'],
    ['rate', '"fast"'],
    ['rate', '.nan'],
    ['rate', '.inf'],
    ['name', '""'],
    ['name', '123'],
    ['name', `"${'x'.repeat(65)}"`],
    ['name', '{ a: 1 }'],
    ['tags', 'a'],
    ['tags', '[1, 2]'],
    ['tags', '[a, b, c, d, e, f, g, h, i]'],
    ['mode', 'slow'],
    ['mode', 'FAST'],
    ['nested', '5'],
    ['nested', '{ bins: 1, on: true }'],
    ['nested', '{ bins: 16, on: "yes" }'],
    ['nested', '{ bins: 16 }'],
  ];
  for (const [key, value] of wrong) {
    file(`${key}: ${value}`, withLine(key, `${key}: ${value}`), 'CAIRN_CONFIG_INVALID');
    // --set merges a mapping into the file's: `nested={ bins: 16 }` keeps `on` and is valid.
    if (value !== '{ bins: 16 }') set(`${key}=${value}`, `tune.${key}=${value}`);
  }
  file('a required key missing', `${Object.values(GOOD).slice(1).join('\n')}\n`, 'CAIRN_CONFIG_INVALID');
  file('an empty file', '', undefined);

  // YAML that cannot be read.
  file('an unclosed flow sequence', withLine('tags', 'tags: [a, b'), 'CAIRN_CONFIG_UNREADABLE');
  file('bad indentation', `trees: 100\n  depth: 6\n`, 'CAIRN_CONFIG_UNREADABLE');
  file('a tab indentation', withLine('nested', 'nested:\n\tbins: 16\n\ton: true'), 'CAIRN_CONFIG_UNREADABLE');
  file('a duplicate key', plus('trees: 200'), undefined);
  file('a top-level list', '- trees: 100\n', 'CAIRN_CONFIG_UNREADABLE');
  file('a top-level scalar', 'forest\n', 'CAIRN_CONFIG_UNREADABLE');
  file('an unterminated quote', withLine('name', 'name: "forest'), 'CAIRN_CONFIG_UNREADABLE');
  file('two documents', `${Object.values(GOOD).join('\n')}\n---\ntrees: 1\n`, 'CAIRN_CONFIG_UNREADABLE');

  // YAML aliases.
  file('an unknown alias', withLine('name', 'name: *nope'), 'CAIRN_CONFIG_UNREADABLE');
  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    laughs.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(', ')}]`);
  }
  file(
    'a billion laughs',
    `${Object.values(GOOD).join('\n')}\n${laughs.join('\n')}\n`,
    'CAIRN_CONFIG_UNREADABLE',
  );
  file('an alias of the wrong type', `anchor_holder: &n [1]\n${withLine('trees', 'trees: *n')}`, undefined);
  set('an unknown alias', 'tune.name=*nope', 'CAIRN_CONFIG_UNREADABLE');
  set('an alias as the whole value', 'tune.token=*token', 'CAIRN_CONFIG_UNREADABLE');
  set('an anchor and alias in one value', 'tune.tags=[&x a, *y]', 'CAIRN_CONFIG_UNREADABLE');

  // ${env:} references.
  file('a missing variable', withLine('token', 'token: ${env:CHAOS_NEVER_SET}'), 'CAIRN_CONFIG_ENV_MISSING');
  file('an unterminated reference', withLine('token', 'token: ${env:CHAOS_TOKEN'), 'CAIRN_CONFIG_INVALID');
  file('an empty variable name', withLine('token', 'token: ${env:}'), undefined);
  file('a variable name with a space', withLine('token', 'token: ${env:CHAOS TOKEN}'), undefined);
  file('a reference in a number field', withLine('trees', 'trees: ${env:CHAOS_TOKEN}'), undefined);
  set('a missing variable', 'tune.token=${env:CHAOS_NEVER_SET}', 'CAIRN_CONFIG_ENV_MISSING');
  set('an unterminated reference', 'tune.token=${env:CHAOS_TOKEN', 'CAIRN_CONFIG_INVALID');
  set('a reference to a number field', 'tune.trees=${env:CHAOS_TOKEN}', undefined);
  cases.push({
    name: 'file: a variable that is set but empty of meaning',
    args: ['run', 'tuned'],
    files: { [CONF]: withLine('trees', 'trees: ${env:CHAOS_TREES}') },
    env: { CHAOS_TREES: 'lots' },
  });

  // Control characters and bidirectional overrides.
  file('an escape sequence in a key', plus(`"na${ESC}[31mme": 1`), 'CAIRN_CONFIG_INVALID');
  file('a bell in a key', plus(`"be${BEL}ll": 1`), 'CAIRN_CONFIG_INVALID');
  file('an RTL override in a key', plus(`"${RLO}eman": forest`), 'CAIRN_CONFIG_INVALID');
  file('a NUL byte in a key', plus('"na\u0000me": 1'), 'CAIRN_CONFIG_INVALID');
  set('an escape sequence in a key', `tune.na${ESC}[2Jme=1`);
  set('a bell in a key', `tune.tr${BEL}ees=1`);
  set('an RTL override in a key', `tune.${RLO}seert=1`);
  set('an escape sequence in a number', `tune.trees=${ESC}[31m5`);
  set('an RTL override in an enum', `tune.mode=${RLO}tsaf`);
  set('a control character in the step name', `tu${BEL}ne.trees=1`);

  // Malformed --set flags.
  set('no equals sign', 'tune.trees', 'CAIRN_CONFIG_OVERRIDE_INVALID');
  set('an empty key', '=3', 'CAIRN_CONFIG_OVERRIDE_INVALID');
  set('only a step', 'tune=3');
  set('an unknown step', 'nosuch.trees=3', 'CAIRN_CONFIG_OVERRIDE_INVALID');
  set('an empty path segment', 'tune..trees=3');
  set('a trailing dot', 'tune.trees.=3');
  set('an unclosed flow value', 'tune.tags=[a, b');
  set('an unterminated quote', 'tune.name="forest');

  // Malformed command-line flags.
  flags('an unknown flag', ['run', 'tuned', '--sett', 'tune.trees=3'], 'CAIRN_USAGE');
  flags('a missing flag value', ['run', 'tuned', '--set'], 'CAIRN_USAGE');
  flags('concurrency 0', ['run', 'tuned', '--concurrency', '0'], 'CAIRN_USAGE');
  flags('concurrency not a number', ['run', 'tuned', '--concurrency', 'abc'], 'CAIRN_USAGE');
  flags('concurrency negative', ['run', 'tuned', '-c', '-1'], 'CAIRN_USAGE');
  flags('an unknown step to force', ['run', 'tuned', '--force', 'nosuch'], 'CAIRN_USAGE');
  flags('an unknown environment', ['run', 'tuned', '--env', 'nosuch'], 'CAIRN_STACK_INVALID');
  flags('an unknown pipeline', ['run', 'nosuch'], 'CAIRN_PIPELINE_NOT_FOUND');
  flags('an extra argument', ['run', 'tuned', 'extra'], 'CAIRN_USAGE');
  flags('a value for a boolean flag', ['run', 'tuned', '--json=yes'], 'CAIRN_USAGE');
  flags('an unknown short flag', ['run', 'tuned', '-z'], 'CAIRN_USAGE');
  flags('an escape sequence in a pipeline name', ['run', `tu${ESC}[31mned`]);
  flags('an RTL override in a pipeline name', ['run', `${RLO}denut`]);
  return cases;
}
