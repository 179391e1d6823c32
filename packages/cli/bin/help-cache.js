// The root help (`cairn --help`, or `cairn` alone) is the same text for
// the same build, arguments, terminal and environment, but rendering it means loading oclif and
// every command's description: most of the time `cairn --help` takes. So the built CLI keeps the
// last root help it printed in the user's cache folder, with everything it was rendered for, and
// a later call that matches all of it prints the kept text without loading the CLI at all.
//
// One entry (a mismatch renders again and replaces it): the cache never grows. Anything that can
// change the text is in the key — the build's files, the arguments, whether stdout is a terminal
// and its width, Node's version and the whole environment but for the few variables a shell
// changes on every command — so a stale text is never shown: at worst the help is rendered again.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Set by a shell for every command; no help text depends on them. */
const VOLATILE = new Set(['_', 'PWD', 'OLDPWD', 'SHLVL']);
/** What identifies a build: its command bundle, the manifest oclif reads, the package. */
const BUILD_FILES = ['../dist/commands.js', '../dist/oclif.js', '../oclif.manifest.json', '../package.json'];

function cacheFile() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'cairn', 'root-help.json');
}

function key(argv) {
  const build = BUILD_FILES.map((file) => {
    try {
      const path = fileURLToPath(new URL(file, import.meta.url));
      const { size, mtimeMs, ino } = statSync(path);
      return [path, size, mtimeMs, ino];
    } catch {
      return [file, null];
    }
  });
  const env = Object.keys(process.env)
    .filter((name) => !VOLATILE.has(name))
    .sort()
    .map((name) => [name, process.env[name]]);
  const terminal = [Boolean(process.stdout.isTTY), process.stdout.columns ?? null];
  const text = JSON.stringify([argv, build, terminal, process.version, process.platform, env]);
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The kept root help for these arguments when everything it was rendered for still holds (`text`),
 * and how to keep a freshly rendered one (`keep`). Never throws: an unreadable or unwritable cache
 * only means the help is rendered.
 */
export function rootHelpCache(argv) {
  const file = cacheFile();
  let wanted;
  try {
    wanted = key(argv);
    const kept = JSON.parse(readFileSync(file, 'utf8'));
    if (kept.key === wanted && typeof kept.text === 'string') return { text: kept.text };
  } catch {}
  return {
    keep(text) {
      if (wanted === undefined) return;
      try {
        mkdirSync(join(file, '..'), { recursive: true });
        // Written whole and renamed into place: a reader never sees half an entry.
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify({ key: wanted, text }));
        renameSync(tmp, file);
      } catch {}
    },
  };
}

/**
 * Run `render` with stdout recorded; keep what it printed when it succeeded, printed something and
 * wrote nothing to stderr (a warning may not hold next time).
 */
export async function recordRootHelp(cache, render) {
  const chunks = [];
  let warned = false;
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = function (chunk, ...rest) {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return out.call(this, chunk, ...rest);
  };
  process.stderr.write = function (...args) {
    warned = true;
    return err.apply(this, args);
  };
  try {
    await render();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const text = chunks.join('');
  if (!warned && text.length > 0 && !process.exitCode) cache.keep(text);
}
