/**
 * Just enough of semver's range matching for peer dependency checks
 * (`^0.1.0`, `~1.2`, `>=1 <3`, `1.x`, `a || b`); prerelease tags compare
 * by their version core.
 */
type Triple = [number, number, number];

function parse(version: string): { v: Triple; parts: number } | undefined {
  const m = /^v?(\d+|x|\*)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?(?:-[\w.]+)?(?:\+[\w.]+)?$/i.exec(version.trim());
  if (!m) return undefined;
  const nums = [m[1], m[2], m[3]];
  let parts = 0;
  const v = [0, 0, 0] as Triple;
  for (let i = 0; i < 3; i++) {
    const n = nums[i];
    if (n === undefined || /^[x*]$/i.test(n)) break;
    v[i] = Number(n);
    parts = i + 1;
  }
  return { v, parts };
}

const cmp = (a: Triple, b: Triple) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

function comparator(version: Triple, token: string): boolean {
  const m = /^(\^|~|>=|<=|>|<|=)?\s*(.+)$/.exec(token)!;
  const op = m[1] ?? '';
  const target = parse(m[2]!);
  if (!target) return false;
  const { v, parts } = target;
  if (parts === 0) return op === '' || op === '>=' || op === '<=' || op === '=';
  const upper = (): Triple => {
    if (op === '^') {
      if (v[0] > 0 || parts === 1) return [v[0] + 1, 0, 0];
      if (v[1] > 0 || parts === 2) return [0, v[1] + 1, 0];
      return [0, 0, v[2] + 1];
    }
    if (op === '~') return parts === 1 ? [v[0] + 1, 0, 0] : [v[0], v[1] + 1, 0];
    // Partial versions act as ranges: 1.2 = >=1.2.0 <1.3.0.
    return parts === 1 ? [v[0] + 1, 0, 0] : parts === 2 ? [v[0], v[1] + 1, 0] : [v[0], v[1], v[2] + 1];
  };
  switch (op) {
    case '^':
    case '~':
    case '':
    case '=':
      return cmp(version, v) >= 0 && cmp(version, upper()) < 0;
    case '>=':
      return cmp(version, v) >= 0;
    case '>':
      return parts === 3 ? cmp(version, v) > 0 : cmp(version, upper()) >= 0;
    case '<=':
      return parts === 3 ? cmp(version, v) <= 0 : cmp(version, upper()) < 0;
    case '<':
      return cmp(version, v) < 0;
  }
  return false;
}

/** Whether `version` satisfies `range`; `false` for anything it cannot parse. */
export function satisfies(version: string, range: string): boolean {
  const parsed = parse(version);
  if (!parsed || parsed.parts < 3) return false;
  if (range.trim() === '' || range.trim() === '*' || range.trim() === 'latest') return true;
  return range.split('||').some((alternative) => {
    const tokens = alternative
      .trim()
      .replace(/(\^|~|>=|<=|>|<|=)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean);
    if (tokens.length === 3 && tokens[1] === '-')
      return comparator(parsed.v, `>=${tokens[0]}`) && comparator(parsed.v, `<=${tokens[2]}`);
    return tokens.every((token) => comparator(parsed.v, token));
  });
}
