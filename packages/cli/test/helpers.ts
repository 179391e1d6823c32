import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dev entry, run as a user would run `cairn` (no build needed). */
export const DEV_ENTRY = fileURLToPath(new URL('../bin/dev.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawn `cairn <args>` in `cwd` with no terminal attached (stdin closed). */
export function cairn(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEV_ENTRY, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `cairn-cli-${prefix}-`));

/** Every file under `dir`, relative, sorted (node_modules and .git left out). */
export function listFiles(dir: string, base = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((entry) => {
      const rel = base ? `${base}/${entry.name}` : entry.name;
      if (entry.name === 'node_modules' || entry.name === '.git') return [];
      return entry.isDirectory() ? listFiles(dir, rel) : [rel];
    })
    .sort();
}
