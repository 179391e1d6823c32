/**
 * The `python` model flavor: a bundle whose entry module (`predict.py`)
 * loads the model, served through one long-lived Python worker process per
 * loaded model, spoken to in JSON lines over its stdin and stdout.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { CairnError, ErrorCodes, type ModelBundle, type Predictor } from '@cairn/core';
import { WORKER_SOURCE } from './python-worker';

/** The flavor a Python model bundle names in its manifest. */
export const PYTHON_FLAVOR = 'python';

/** Options of {@link pythonLoader}. */
export interface PythonLoaderOptions {
  /**
   * The Python interpreter that runs the workers: a command on the PATH or a path.
   * It needs whatever the bundle's `predict.py` imports (scikit-learn, joblib, …).
   * @default process.env.CAIRN_PYTHON ?? 'python3'
   */
  python?: string;
  /**
   * Requests handed to a worker at once; the worker answers them in order.
   * @default 4
   */
  maxInFlight?: number;
  /**
   * Requests waiting for a free slot beyond `maxInFlight`; more are refused
   * at once (`CAIRN_DEPLOY_FAILED`, "busy") instead of queueing without bound.
   * @default 256
   */
  maxQueued?: number;
  /**
   * A worker that has not started, or not answered a request, after this
   * long is taken to be stuck: it is killed, its requests fail, and the next
   * request starts a new one.
   * @default 60000
   */
  requestTimeoutMs?: number;
  /** Extra environment for the worker processes. */
  env?: Record<string, string>;
}

interface Settings {
  python: string;
  maxInFlight: number;
  maxQueued: number;
  requestTimeoutMs: number;
  env: Record<string, string>;
}

const optionsInvalid = (message: string) =>
  new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `python model loader: ${message}`);

function settingsOf(options: PythonLoaderOptions): Settings {
  if (typeof options !== 'object' || options === null) throw optionsInvalid('options must be an object');
  const known = ['python', 'maxInFlight', 'maxQueued', 'requestTimeoutMs', 'env'];
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw optionsInvalid(`unknown option ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const python = options.python ?? process.env.CAIRN_PYTHON ?? 'python3';
  if (typeof python !== 'string' || python.trim() === '')
    throw optionsInvalid('python must be a non-empty string');
  const count = (name: 'maxInFlight' | 'maxQueued' | 'requestTimeoutMs', fallback: number, min: number) => {
    const value = options[name] ?? fallback;
    if (!Number.isInteger(value) || value < min) {
      throw optionsInvalid(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(options[name])}`);
    }
    return value;
  };
  const env = options.env ?? {};
  if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string')) {
    throw optionsInvalid('env must map variable names to strings');
  }
  return {
    python,
    maxInFlight: count('maxInFlight', 4, 1),
    maxQueued: count('maxQueued', 256, 0),
    requestTimeoutMs: count('requestTimeoutMs', 60_000, 1),
    env,
  };
}

/**
 * The loader of `python` bundles, for `serving.loaders` in cairn.config.ts.
 * The bundle holds an entry module (`predict.py`, or the file
 * `manifest.metadata.entry` names) that defines `load(model_dir)`, returning
 * an object whose `predict(rows)` returns one prediction per row; the
 * bundle's other files (a joblib-pickled estimator) sit beside it in
 * `model_dir`. Each loaded model gets its own worker process: it is started
 * when the model loads, started again if it dies, and killed when the model
 * is unloaded or the deployer closes. A `ValueError`, `KeyError` or
 * `TypeError` raised by `predict` is bad input (`CAIRN_DATA_INVALID`, HTTP
 * 400); any other exception a model failure.
 *
 * @example
 * ```ts
 * serving: { loaders: { python: pythonLoader({ python: 'python3' }) } },
 * ```
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, when the options are invalid
 */
export function pythonLoader(options: PythonLoaderOptions = {}): (bundle: ModelBundle) => Promise<Predictor> {
  const settings = settingsOf(options);
  return async (bundle) => {
    const worker = new PythonWorker(settings, await unpack(bundle));
    try {
      await worker.start();
    } catch (error) {
      await worker.close();
      throw error;
    }
    return worker;
  };
}

interface Unpacked {
  /** Private folder holding `model/` and the worker program; removed on close. */
  root: string;
  modelDir: string;
  entry: string;
}

/** Write the bundle's files where the worker can import them. */
async function unpack(bundle: ModelBundle): Promise<Unpacked> {
  const entry = (bundle.manifest.metadata?.entry as string | undefined) ?? 'predict.py';
  if (typeof entry !== 'string' || !(entry in bundle.files)) {
    throw new CairnError(
      ErrorCodes.DEPLOY_INVALID,
      `a python model bundle needs its entry module ${JSON.stringify(entry)} among its files (it has ${Object.keys(bundle.files).join(', ') || 'none'})`,
    );
  }
  const root = await mkdtemp(join(tmpdir(), 'cairn-python-model-'));
  const modelDir = join(root, 'model');
  try {
    for (const [name, content] of Object.entries(bundle.files)) {
      const path = join(modelDir, ...name.split('/'));
      // The model type already refuses `..` in file names; checked again because this is code that runs.
      if (!path.startsWith(modelDir + sep)) throw new Error(`bundle file name ${name} leaves the bundle`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }
    await writeFile(join(root, 'cairn_worker.py'), WORKER_SOURCE);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return { root, modelDir, entry };
}

interface Pending {
  resolve(predictions: unknown[]): void;
  reject(error: Error): void;
}

/** Workers still running, killed if this process exits without closing them. */
const running = new Set<ChildProcessWithoutNullStreams>();
let exitHook = false;
function track(child: ChildProcessWithoutNullStreams): void {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const worker of running) worker.kill('SIGKILL');
    });
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}

const failed = (message: string) => new CairnError(ErrorCodes.DEPLOY_FAILED, message);

/** One loaded Python model: its worker process, restarted when it dies. */
export class PythonWorker implements Predictor {
  private child: ChildProcessWithoutNullStreams | undefined;
  private starting: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: (() => void)[] = [];
  private inFlight = 0;
  private nextId = 1;
  private closed = false;
  private stderrTail: string[] = [];
  /** Workers started so far for this model: 1, then one more per restart. */
  starts = 0;

  constructor(
    private readonly settings: Settings,
    private readonly unpacked: Unpacked,
  ) {}

  /** The worker's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start the worker (once at a time) and wait until the model has loaded. */
  start(): Promise<void> {
    if (this.child) return Promise.resolve();
    this.starting ??= this.spawnWorker().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async predict(rows: readonly unknown[]): Promise<unknown[]> {
    if (this.closed) throw failed('the Python model is closed');
    if (this.inFlight < this.settings.maxInFlight) {
      this.inFlight++;
    } else {
      if (this.waiting.length >= this.settings.maxQueued) {
        throw failed(
          `the Python worker is busy: ${this.inFlight} requests in flight and ${this.waiting.length} waiting (maxInFlight ${this.settings.maxInFlight}, maxQueued ${this.settings.maxQueued})`,
        );
      }
      // Woken with the slot of a request that finished, so the count never passes maxInFlight.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (this.closed) throw failed('the Python model is closed');
    }
    try {
      await this.start();
      return await this.send(rows);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await this.starting?.catch(() => undefined);
    const child = this.child;
    if (child) await stopProcess(child);
    this.failPending('the Python model was unloaded');
    await rm(this.unpacked.root, { recursive: true, force: true });
  }

  private send(rows: readonly unknown[]): Promise<unknown[]> {
    const child = this.child;
    if (!child) return Promise.reject(failed(`the Python worker exited${this.tail()}`));
    const id = this.nextId++;
    return new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill(`did not answer within ${this.settings.requestTimeoutMs} ms`, child);
      }, this.settings.requestTimeoutMs);
      this.pending.set(id, {
        resolve: (predictions) => {
          clearTimeout(timer);
          resolve(predictions);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      child.stdin.write(`${JSON.stringify({ id, rows })}\n`);
    });
  }

  private spawnWorker(): Promise<void> {
    const { python, env, requestTimeoutMs } = this.settings;
    const { root, modelDir, entry } = this.unpacked;
    this.stderrTail = [];
    this.starts++;
    const child = spawn(python, ['-u', join(root, 'cairn_worker.py'), modelDir, entry], {
      cwd: modelDir,
      env: { ...process.env, ...env, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    // A write to a worker that just died must fail its request, not this process.
    child.stdin.on('error', () => {});
    child.stderr.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
      }
    });
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let buffer = '';
      const timer = setTimeout(() => {
        if (!ready) {
          child.kill('SIGKILL');
          reject(
            failed(`the Python worker did not load the model within ${requestTimeoutMs} ms${this.tail()}`),
          );
        }
      }, requestTimeoutMs);
      // Decoded as a stream: a character split across two chunks stays whole.
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buffer += chunk;
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (line.trim() === '') continue;
          let message: any;
          try {
            message = JSON.parse(line);
          } catch {
            this.kill(`wrote a line that is not JSON: ${line.slice(0, 200)}`, child);
            return;
          }
          if (!ready) {
            clearTimeout(timer);
            if (message.ready === true) {
              ready = true;
              this.child = child;
              resolve();
            } else {
              reject(failed(`the Python worker could not load the model: ${errorText(message.error)}`));
            }
            continue;
          }
          this.answer(message);
        }
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(failed(`cannot start the Python interpreter "${python}": ${error.message}`));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        if (!ready) {
          reject(failed(`the Python worker ${how} before the model loaded${this.tail()}`));
          return;
        }
        if (this.child === child) this.child = undefined;
        this.failPending(`the Python worker ${how}${this.tail()}`);
        // Started again at once, so the next request does not wait for the model to load.
        if (!this.closed) void this.start().catch(() => undefined);
      });
    });
  }

  private answer(message: any): void {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.error) {
      const code = message.error.badInput ? ErrorCodes.DATA_INVALID : ErrorCodes.DEPLOY_FAILED;
      pending.reject(new CairnError(code, errorText(message.error)));
    } else if (!Array.isArray(message.predictions)) {
      pending.reject(failed(`predict() returned ${typeof message.predictions}, not a list`));
    } else {
      pending.resolve(message.predictions);
    }
  }

  /** Kill a worker that misbehaves; its exit fails the requests it held. */
  private kill(why: string, child: ChildProcessWithoutNullStreams): void {
    this.stderrTail.push(`(cairn) the worker ${why}`);
    child.kill('SIGKILL');
  }

  private failPending(message: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) request.reject(failed(message));
  }

  private tail(): string {
    return this.stderrTail.length > 0 ? `:\n${this.stderrTail.map((line) => `    ${line}`).join('\n')}` : '';
  }
}

function errorText(error: any): string {
  if (!error || typeof error !== 'object') return 'unknown error';
  return `${error.type ?? 'Error'}: ${error.message ?? ''}`;
}

/** End stdin (the worker exits on EOF); kill it if it has not gone shortly after. */
function stopProcess(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin.end();
  });
}
