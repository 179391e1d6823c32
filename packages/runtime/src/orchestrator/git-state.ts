/**
 * The git state a run records (its commit, and whether the work tree differed
 * from it), with the answer of the last `git status` kept in the state folder
 * while nothing git would look at has changed.
 *
 * Why: `git status` is a process of its own. Starting it forks this process
 * (about 10 ms of the main thread) and it competes with the run for the cores:
 * about 35 ms of a 400 ms no-op rerun on a two-core machine, every time. A
 * rerun in a repository where nothing changed asks the same question and gets
 * the same answer.
 *
 * When the answer is kept: after a `git status`, a snapshot records the lstat
 * of every file and folder of the work tree that git does not ignore, and of
 * the files git reads besides (HEAD, the ref it names, packed-refs, the index,
 * the configs and exclude files). A later run reuses the answer only when every
 * one of them is unchanged: an edit changes the file's stamp, a new or removed
 * file its folder's, a commit or `git add` the ref or the index. Where that
 * cannot be told from stamps alone, nothing is kept and git is asked every
 * time: GIT_* variables in the environment, a `.git` that is not a folder
 * (worktrees, submodules), `.gitmodules`, config includes, a work tree too
 * large to stamp faster than git (known without a walk when git's index lists
 * more files than that), or stamps too recent to trust (a file can be changed
 * twice within one tick of the file system's clock).
 */
import {
  closeSync,
  type Dirent,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  type Stats,
  statSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { writeAtomic } from './code';

export interface GitState {
  commit: string;
  dirty: boolean;
}

/** What is kept in `<stateDir>/git-status.json`. */
interface GitSnapshot {
  version: 1;
  /** The repository's top folder, absolute. */
  root: string;
  git: GitState;
  /** Path (absolute) → stamp, for every file and folder the answer depends on. */
  stamps: Record<string, string>;
}

/**
 * A work tree with more entries than this is left to git. Checking a kept answer costs about
 * 8 µs per entry on the main thread (an lstat and its share of the JSON); past a few thousand
 * that is more than starting git, whose own work runs on another core.
 */
export const MAX_SNAPSHOT_ENTRIES = 4_000;
/**
 * Stamps this recent are not trusted: a second change within the same tick of the file
 * system's clock (coarse; a whole second on some file systems) would keep them.
 */
const RACY_MS = 2_000;
const SNAPSHOT_FILE = 'git-status.json';

/**
 * The commit and dirtiness of the repository holding `projectDir`, undefined
 * outside a repository, in one with no commit yet, or without git. With a
 * `stateDir`, a kept answer is reused while its snapshot holds (see above).
 */
export async function gitState(
  projectDir: string,
  stateDir?: string,
  { racyMs = RACY_MS, maxEntries = MAX_SNAPSHOT_ENTRIES }: { racyMs?: number; maxEntries?: number } = {},
): Promise<GitState | undefined> {
  const root = repositoryRoot(projectDir);
  if (root === undefined) return undefined;
  const files = stateDir ? gitFiles(root) : undefined;
  const snapshotFile = stateDir && files ? join(stateDir, SNAPSHOT_FILE) : undefined;
  let snapshotNow = snapshotFile !== undefined;
  if (snapshotFile && files) {
    const check = checkSnapshot(snapshotFile, root, files);
    if (check.kept) return check.kept;
    // An edit made just now (the usual edit, then run) would make a new snapshot racy: no
    // stamping this time, the run after it takes one.
    if (check.changed !== undefined && racy([check.changed], Date.now() - racyMs)) snapshotNow = false;
  }
  // A work tree that tracks more files than could be stamped is left to git before any stamping
  // walk: it would give up past maxEntries, run after run, after asking git for the ignored files
  // too. Checked only here: a kept answer was stamped from a tree small enough, with this index.
  if (snapshotNow && tracksMoreThan(root, maxEntries)) snapshotNow = false;
  // Made before anything is stamped: a new state folder changes its parent's stamp.
  const made =
    snapshotNow &&
    (await mkdir(stateDir!, { recursive: true }).then(
      () => true,
      () => false,
    ));
  // Stamped after git answered, and kept only when nothing stamped changed since shortly before
  // git started: a change while git ran would give a stamp newer than that.
  const startedAt = Date.now();
  const status = await gitStatus(projectDir, made);
  if (!status || !snapshotFile || !files || !made) return status?.git;
  const stamps = takeStamps(root, files, status.ignored, maxEntries);
  if (stamps && !racy(stamps.values(), startedAt - racyMs)) {
    const snapshot: GitSnapshot = { version: 1, root, git: status.git, stamps: Object.fromEntries(stamps) };
    // A cache: a state folder that refuses the write costs the next run a `git status`, nothing else.
    await writeAtomic(snapshotFile, JSON.stringify(snapshot)).catch(() => {});
  }
  return status.git;
}

/** The folder holding `.git`, at or above `dir`. */
function repositoryRoot(dir: string): string | undefined {
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(join(current, '.git'))) return current;
    if (dirname(current) === current) return undefined;
  }
}

/**
 * Whether git's index lists more than `count` files: its header holds the number of entries
 * (after the "DIRC" signature and the version, big-endian). Every tracked file is a stamp, so
 * such a work tree has more entries than `count` to stamp. False when the index cannot be read
 * (no commit yet, another format): the stamping walk then finds out, as before.
 */
function tracksMoreThan(root: string, count: number): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(join(root, '.git', 'index'), 'r');
    const header = Buffer.alloc(12);
    if (readSync(fd, header, 0, 12, 0) !== 12 || header.toString('latin1', 0, 4) !== 'DIRC') return false;
    return header.readUInt32BE(8) > count;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * GIT_* variables that do not change what `git status` answers (transport,
 * identity, editors, tracing). Any other one (GIT_DIR, GIT_INDEX_FILE,
 * GIT_CONFIG_*, ...) might, and then git is asked every time.
 */
const HARMLESS_GIT_VARIABLE =
  /^GIT_(?:SSL_\w*|SSH\w*|HTTP_\w*|CURL_\w*|PROXY_\w*|TRACE\w*|AUTHOR_\w*|COMMITTER_\w*|ASKPASS|TERMINAL_PROMPT|PAGER|EDITOR|SEQUENCE_EDITOR|MERGE_\w*|PROTOCOL_FROM_USER|ALLOW_PROTOCOL)$/;

/**
 * The files outside the work tree that change git's answer (its own state, the
 * configs, exclude and attributes files), or undefined when stamps cannot tell
 * that git's answer still holds (see the module comment). Each config is read once.
 */
function gitFiles(root: string): string[] | undefined {
  if (Object.keys(process.env).some((name) => name.startsWith('GIT_') && !HARMLESS_GIT_VARIABLE.test(name)))
    return undefined;
  const git = join(root, '.git');
  try {
    if (!statSync(git).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  if (existsSync(join(root, '.gitmodules'))) return undefined;
  const home = process.env.HOME ?? homedir();
  const xdg = process.env.XDG_CONFIG_HOME || join(home, '.config');
  // Listed whether they exist or not: a new one is a change.
  const configs = [
    join(git, 'config'),
    join(home, '.gitconfig'),
    join(xdg, 'git', 'config'),
    '/etc/gitconfig',
  ];
  const files = [
    join(git, 'HEAD'),
    join(git, 'index'),
    join(git, 'packed-refs'),
    join(git, 'info', 'exclude'),
    join(git, 'info', 'attributes'),
    join(xdg, 'git', 'ignore'),
    join(xdg, 'git', 'attributes'),
    ...configs,
  ];
  for (const config of configs) {
    const text = readText(config) ?? '';
    if (/^\s*\[\s*include/im.test(text)) return undefined;
    // core.excludesFile / core.attributesFile, when a config names one.
    for (const match of text.matchAll(/^\s*(?:excludesfile|attributesfile)\s*=\s*(.+?)\s*$/gim)) {
      const value = match[1]!.replace(/^"(.*)"$/, '$1');
      files.push(value.startsWith('~/') ? join(home, value.slice(2)) : resolve(root, value));
    }
  }
  const ref = readText(join(git, 'HEAD'))?.match(/^ref:\s*(refs\/\S+)\s*$/m)?.[1];
  if (ref && !ref.split('/').includes('..')) files.push(join(git, ...ref.split('/')));
  return files;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * What changes when a file is written, replaced, renamed over, chmod-ed or removed.
 * Times in milliseconds as numbers (a quarter of a microsecond apart at today's
 * dates), not BigInt nanoseconds: a BigInt stat costs twice as much, and two
 * changes closer than that are covered by the racy rule anyway.
 */
function stampOf(info: Stats | undefined): string {
  if (!info) return '-';
  return `${info.mode}:${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.ino}`;
}

function lstamp(path: string): string {
  try {
    return stampOf(lstatSync(path, { throwIfNoEntry: false }));
  } catch {
    return '-';
  }
}

/**
 * The answer kept in the snapshot when every stamp in it still holds; else the
 * current stamp of the first path found changed, when there is one.
 */
function checkSnapshot(
  file: string,
  root: string,
  expected: string[],
): { kept?: GitState; changed?: string } {
  let snapshot: GitSnapshot;
  try {
    snapshot = JSON.parse(readFileSync(file, 'utf8')) as GitSnapshot;
  } catch {
    return {};
  }
  if (snapshot?.version !== 1 || snapshot.root !== root || !snapshot.git || !snapshot.stamps) return {};
  // The git files are checked first and must be the same set: a new ref named by HEAD is a change.
  for (const path of expected) if (snapshot.stamps[path] === undefined) return {};
  for (const path of [...expected, ...Object.keys(snapshot.stamps)]) {
    const stamp = lstamp(path);
    if (stamp !== snapshot.stamps[path]) return { changed: stamp };
  }
  const { commit, dirty } = snapshot.git;
  if (typeof commit !== 'string' || typeof dirty !== 'boolean') return {};
  return { kept: { commit, dirty } };
}

/**
 * Stamps of the git `files` and of every file and folder of the work tree below
 * `root`, skipping `.git` folders and what git ignores (`ignored`: the
 * repository-relative paths `git status --ignored=matching` printed, folders
 * ending in `/`). Undefined when there are more than `maxEntries`.
 */
function takeStamps(
  root: string,
  files: string[],
  ignored: Set<string>,
  maxEntries: number,
): Map<string, string> | undefined {
  const stamps = new Map<string, string>();
  for (const file of files) stamps.set(file, lstamp(file));
  const pending: [string, string][] = [[root, '']];
  while (pending.length > 0) {
    const [dir, rel] = pending.pop()!;
    stamps.set(dir, lstamp(dir));
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.name === '.git') continue;
      const relPath = rel + entry.name;
      const path = dir.endsWith(sep) ? `${dir}${entry.name}` : `${dir}${sep}${entry.name}`;
      if (entry.isDirectory()) {
        if (!ignored.has(`${relPath}/`)) pending.push([path, `${relPath}/`]);
      } else if (!ignored.has(relPath)) {
        stamps.set(path, lstamp(path));
      }
      if (stamps.size + pending.length > maxEntries) return undefined;
    }
  }
  return stamps;
}

/** Whether a stamp has a time at or after `since`: a second change then might have left it as it is. */
function racy(stamps: Iterable<string>, since: number): boolean {
  for (const stamp of stamps) {
    if (stamp === '-') continue;
    const [, , mtime, ctime] = stamp.split(':');
    if (Number(mtime) >= since || Number(ctime) >= since) return true;
  }
  return false;
}

/**
 * One `git status` (`--porcelain=v2 --branch` prints the commit as `# branch.oid`).
 * `--no-optional-locks`, as editors' background status does: the same answer
 * without rewriting `.git/index` (a write, and a lock that could make the user's
 * own `git commit` during a run fail with "index.lock exists"). With `ignored`,
 * it also lists what git ignores, for the snapshot to skip.
 */
async function gitStatus(
  cwd: string,
  ignored: boolean,
): Promise<{ git: GitState; ignored: Set<string> } | undefined> {
  try {
    // Loaded here, not at the top: a run whose kept answer holds never starts git, and loading
    // child_process (with net and dgram behind it) is a few ms of every process's start.
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { stdout } = await promisify(execFile)(
      'git',
      [
        '--no-optional-locks',
        'status',
        '--porcelain=v2',
        '--branch',
        '--untracked-files=normal',
        ...(ignored ? ['--ignored=matching'] : []),
        '-z',
      ],
      { cwd, maxBuffer: 64 << 20 },
    );
    const fields = stdout.split('\0');
    let commit: string | undefined;
    let dirty = false;
    const ignoredPaths = new Set<string>();
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      if (field === '') continue;
      if (field.startsWith('# branch.oid ')) commit = field.slice('# branch.oid '.length);
      else if (field.startsWith('! ')) ignoredPaths.add(field.slice(2));
      else if (!field.startsWith('#')) {
        dirty = true;
        // A rename or copy entry is followed by the original path, in a field of its own.
        if (field.startsWith('2 ')) i++;
      }
    }
    // A repository with no commit yet says `(initial)`: there is nothing to record.
    if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
    return { git: { commit, dirty }, ignored: ignoredPaths };
  } catch {
    return undefined;
  }
}
