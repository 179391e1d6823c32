// After tsup: copy the repo's templates into the package (they ship with it)
// and write oclif.manifest.json so `cairn --help` loads no command code.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const templates = fileURLToPath(new URL('../../../templates', import.meta.url));
rmSync(`${root}/templates`, { recursive: true, force: true });
if (existsSync(templates)) cpSync(templates, `${root}/templates`, { recursive: true });
execFileSync(process.execPath, [fileURLToPath(import.meta.resolve('oclif/bin/run.js')), 'manifest'], {
  cwd: root,
  stdio: 'inherit',
});
