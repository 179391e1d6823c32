/**
 * cairn's help class skips EJS for strings that cannot hold a tag; EJS still
 * renders every other one. The build answers string-width itself for strings of
 * characters one column wide (tsup.config.ts); string-width must agree.
 */
import { createRequire } from 'node:module';
import type { Config } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import CairnHelp from '../src/help';
import { WIDTH_ONE } from '../tsup.config';
import { cairn, tempDir } from './helpers';

const help = new CairnHelp({ bin: 'cairn', topicSeparator: ' ' } as unknown as Config);

describe('help', () => {
  it('renders EJS tags, and returns strings without one as they are', () => {
    expect(help.render('$ <%= config.bin %> runs')).toBe('$ cairn runs');
    expect(help.render('<%%= kept %>, 100%')).toBe('<%= kept %>, 100%');
    expect(help.render('a summary: no tags, `code` & <brackets>')).toBe(
      'a summary: no tags, `code` & <brackets>',
    );
  });

  it('renders the bin name in command examples and wraps lists as before', async () => {
    const cwd = await tempDir('help');
    const command = await cairn(['new', '--help'], cwd);
    expect(command.code).toBe(0);
    expect(command.stdout).toContain('$ cairn new churn-model\n');
    expect(command.stdout).not.toContain('<%');
    const root = await cairn(['--help'], cwd);
    expect(root.stdout).toContain(
      "  logs         Print a run's step logs, as the run kept them (secrets as\n               ${env:…} references)\n",
    );
  });

  it('agrees with string-width on every character it counts as one column', () => {
    const oclif = createRequire(createRequire(import.meta.url).resolve('@oclif/core'));
    const stringWidth = oclif('string-width') as (text: string) => number;
    let all = '';
    for (let code = 0; code <= 0xffff; code++) {
      const char = String.fromCharCode(code);
      if (!WIDTH_ONE.test(char)) continue;
      all += char;
      expect(stringWidth(char), code.toString(16)).toBe(1);
    }
    expect(stringWidth(all)).toBe(all.length);
  });
});
