import { describe, expect, it } from 'vitest';
import { escapeControl } from '../src/lib/errors';
import { cairn, tempDir } from './helpers';

describe('usage errors', () => {
  it("gives oclif's own flag and argument errors the CAIRN_USAGE code and exit 2", async () => {
    const cwd = await tempDir('usage');
    for (const args of [['runs', '--bogus'], ['runs', '--limit', 'abc'], ['lineage']]) {
      const result = await cairn(args, cwd);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain('Code: CAIRN_USAGE');
    }
  });

  it('escapes control characters and bidirectional overrides echoed from the command line', async () => {
    const cwd = await tempDir('usage');
    const hostile = 'tr\u001b[2Jain\u202egpj.exe';
    const result = await cairn(['run', '--set', `${hostile}.x=1`], cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CAIRN_CONFIG_OVERRIDE_INVALID');
    expect(result.stderr).toContain('tr\\u{001b}[2Jain\\u{202e}gpj.exe');
    expect(result.stderr).not.toContain('\u001b');
    expect(result.stderr).not.toContain('\u202e');
    const flag = await cairn(['runs', `--bo\u202egus`], cwd);
    expect(flag.stderr).toContain('--bo\\u{202e}gus');
    expect(flag.stderr).not.toContain('\u202e');
  });

  it('keeps newlines and tabs, and escapes carriage returns and NUL', () => {
    expect(escapeControl('a\n\tb\rc\u0000d\u2066e')).toBe('a\n\tb\\u{000d}c\\u{0000}d\\u{2066}e');
  });
});
