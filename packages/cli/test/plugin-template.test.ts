import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const KINDS = ['storage', 'metadata', 'executor', 'deployer', 'abtest'] as const;

// A platform team's first step: `cairn new --template plugin --kind <kind>`
// must give a package whose conformance suite passes with no edits, for every
// kind a stack slot holds. The five packages share one npm install (a
// throwaway workspace) to keep the test affordable.
describe('cairn new --template plugin, every kind', () => {
  let cwd: string;

  beforeAll(async () => {
    cwd = await tempDir('plugins');
    for (const kind of KINDS) {
      const made = await cairn(
        [
          'new',
          `${kind}-acme`,
          '--template',
          'plugin',
          '--kind',
          kind,
          '--name',
          `@acme/${kind}-acme`,
        ].concat(['--link', '--no-install', '--no-git']),
        cwd,
      );
      expect(made.code, made.stderr).toBe(0);
    }
    writeFileSync(
      join(cwd, 'package.json'),
      JSON.stringify({ name: 'plugins', private: true, workspaces: KINDS.map((k) => `${k}-acme`) }),
    );
    const installed = spawnSync(NPM, ['install', '--no-audit', '--no-fund'], { cwd, encoding: 'utf8' });
    expect(installed.status, installed.stderr).toBe(0);
  });

  for (const kind of KINDS) {
    it(`--kind ${kind}: declares itself, passes its conformance suite and typechecks as generated`, {
      timeout: 180_000,
    }, () => {
      const dir = join(cwd, `${kind}-acme`);
      const pjson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      // What `cairn add` reads to wire it: the same fields our plugins carry.
      expect(pjson.cairn).toMatchObject({ kind, id: 'acme', options: '', env: [], team: false });
      expect(pjson.cairn.factory).toMatch(/^acme[A-Z]/);
      expect(readFileSync(join(dir, 'src', 'index.ts'), 'utf8')).toContain(`kind: '${kind}'`);
      expect(existsSync(join(dir, '.changeset', 'config.json'))).toBe(true);

      const tested = spawnSync(NPM, ['test', '--', '--reporter', 'verbose'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      });
      const out = tested.stdout + tested.stderr;
      expect(tested.status, out).toBe(0);
      // The conformance file ran the kind's suite (4 cases for executors, 10 to 40 for the others), all passed.
      const suite = out.match(/^\s*✓ test\/conformance\.test\.ts > /gm)?.length ?? 0;
      expect(suite, out).toBeGreaterThanOrEqual(4);
      expect(out).not.toMatch(/\d+ (failed|skipped)/);

      const typed = spawnSync(NPM, ['run', 'typecheck'], { cwd: dir, encoding: 'utf8' });
      expect(typed.status, typed.stdout + typed.stderr).toBe(0);
    });
  }

  it('an unknown kind is exit 2 and writes nothing', async () => {
    const result = await cairn(
      ['new', 'x', '--template', 'plugin', '--kind', 'monitor', '--no-install'],
      cwd,
    );
    expect(result.code).toBe(2);
    // oclif wraps the message at the terminal width.
    expect(result.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--kind=monitor to be one of: storage, metadata, executor, deployer, abtest/,
    );
    expect(existsSync(join(cwd, 'x'))).toBe(false);
  });
});
