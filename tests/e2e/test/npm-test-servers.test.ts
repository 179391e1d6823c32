import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENSURE = 'scripts/servers/ensure.sh';

/** Run a command in the repository root as the unprivileged user `nobody` (util-linux setpriv). */
function asNobody(command: string[], env: NodeJS.ProcessEnv) {
  return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...command], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HOME: '/tmp', npm_config_cache: '/tmp/.npm-nobody', ...env },
  });
}

describe('npm test brings the server packages it needs', () => {
  it('runs scripts/servers/ensure.sh as its pretest, so it happens before any suite', () => {
    const scripts = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).scripts as Record<string, string>;
    expect(scripts.pretest).toBe(`bash ${ENSURE}`);
    const ci = readFileSync(`${ROOT}.ci/run`, 'utf8');
    expect(ci).not.toMatch(/^bash scripts\/servers\/install\.sh/m);
    expect(ci).toMatch(/^npm ci /m);
    expect(ci).toMatch(/npm test/);
  });

  it('when not root, stops at once naming the missing package and the one command to run', () => {
    const result = asNobody(['npm', 'run', 'pretest', '--silent'], {
      CAIRN_SERVER_PACKAGES: 'bash cairn-no-such-package',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('missing cairn-no-such-package.');
    expect(result.stderr).not.toContain('missing bash');
    expect(result.stderr).toContain('sudo bash scripts/servers/install.sh');
  });

  it('passes quietly when every package is installed', () => {
    const result = asNobody(['bash', ENSURE], { CAIRN_SERVER_PACKAGES: 'bash coreutils' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toBe('');
  });
});
