/**
 * Loaded models, shared by digest: one load per bundle however many routes
 * and endpoints serve it, pins that keep a bundle a change is loading from
 * being unloaded under it, and in-flight counts so that a retired model is
 * closed only once its last prediction finishes.
 */
import {
  CairnError,
  ErrorCodes,
  type ModelBundle,
  type ModelLoader,
  type ModelVersionRef,
  type Predictor,
  type StorageDriver,
} from '@cairn/core';
import { BundleMissing, openBundle } from './bundles';
import { describeRef, isBadInput, messageOf } from './problems';

interface LoadedModel {
  promise: Promise<Predictor>;
  predictor?: Predictor;
  /** Predictions running on it: a retired model is closed only once they finish. */
  inflight: number;
  retired: boolean;
}

/** Where models come from. */
export interface ModelSource {
  storage: StorageDriver;
  loaders: Record<string, ModelLoader>;
  /** The deployer's state folder, where bundles are unpacked. */
  stateDir: string;
}

export class ModelCache {
  private readonly models = new Map<string, LoadedModel>();
  private readonly loadErrors = new Map<string, string>();
  /** Digests a change in progress is loading: not to be unloaded under it. */
  private readonly pins = new Map<string, number>();

  /** @param onLoaded told how long each successful load took, in seconds */
  constructor(
    private readonly source: ModelSource,
    private readonly onLoaded: (ref: ModelVersionRef, seconds: number) => void = () => {},
  ) {}

  /** The loaded predictor of a version, loading it once per digest. */
  acquire(ref: ModelVersionRef): Promise<Predictor> {
    const existing = this.models.get(ref.digest);
    if (existing) return existing.promise;
    const started = performance.now();
    const entry: LoadedModel = { promise: this.load(ref), inflight: 0, retired: false };
    this.models.set(ref.digest, entry);
    entry.promise.then(
      (predictor) => {
        entry.predictor = predictor;
        this.onLoaded(ref, (performance.now() - started) / 1000);
        this.loadErrors.delete(ref.digest);
      },
      (error) => {
        // Forget the failure so the next deploy or request tries again.
        if (this.models.get(ref.digest) === entry) this.models.delete(ref.digest);
        this.loadErrors.set(ref.digest, messageOf(error));
      },
    );
    return entry.promise;
  }

  /** Whether the digest has a model loaded and ready, still loading, or neither. */
  state(digest: string): 'ready' | 'loading' | 'absent' {
    const entry = this.models.get(digest);
    if (!entry) return 'absent';
    return entry.predictor ? 'ready' : 'loading';
  }

  /** Why the digest's last load failed, while it is not loaded again. */
  loadError(digest: string): string | undefined {
    return this.loadErrors.get(digest);
  }

  /** Keep these digests loaded while `task` runs, whatever {@link collect} is told. */
  async pinned<T>(digests: readonly string[], task: () => Promise<T>): Promise<T> {
    for (const digest of digests) this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
    try {
      return await task();
    } finally {
      for (const digest of digests) {
        const count = (this.pins.get(digest) ?? 1) - 1;
        if (count > 0) this.pins.set(digest, count);
        else this.pins.delete(digest);
      }
    }
  }

  /** Unload every model whose digest is neither in `needed` nor pinned. */
  collect(needed: ReadonlySet<string>): void {
    for (const [digest, entry] of this.models) {
      if (needed.has(digest) || this.pins.has(digest)) continue;
      this.models.delete(digest);
      entry.retired = true;
      if (entry.inflight === 0) void unload(entry);
    }
  }

  /** Run one prediction on a version, keeping its model open while it runs. */
  async run(ref: ModelVersionRef, rows: readonly unknown[]): Promise<unknown[]> {
    let entry = this.models.get(ref.digest);
    if (!entry) {
      // A live bundle that failed to load at start: try again rather than fail forever.
      await this.acquire(ref);
      entry = this.models.get(ref.digest);
      if (!entry) throw new CairnError(ErrorCodes.DEPLOY_FAILED, `${describeRef(ref)} is not loaded`);
    }
    entry.inflight++;
    try {
      const predictor = await entry.promise;
      let predictions: unknown;
      try {
        predictions = await predictor.predict(rows);
      } catch (error) {
        if (isBadInput(error)) throw error;
        throw new CairnError(ErrorCodes.DEPLOY_FAILED, `${describeRef(ref)} failed: ${messageOf(error)}`, {
          cause: error,
        });
      }
      if (!Array.isArray(predictions) || predictions.length !== rows.length) {
        throw new CairnError(
          ErrorCodes.DEPLOY_FAILED,
          `${describeRef(ref)} answered ${Array.isArray(predictions) ? predictions.length : typeof predictions} predictions for ${rows.length} rows`,
        );
      }
      return predictions;
    } finally {
      entry.inflight--;
      if (entry.retired && entry.inflight === 0) void unload(entry);
    }
  }

  /** Close every model (the deployer is closing). */
  async close(): Promise<void> {
    const loaded = [...this.models.values()];
    this.models.clear();
    await Promise.all(
      loaded.map(async (entry) => {
        const predictor = await entry.promise.catch(() => undefined);
        await predictor?.close?.();
      }),
    );
  }

  private async load(ref: ModelVersionRef): Promise<Predictor> {
    const { storage, loaders, stateDir } = this.source;
    const failed = (message: string, cause?: unknown) =>
      new CairnError(
        ErrorCodes.DEPLOY_FAILED,
        `cannot deploy ${describeRef(ref)}: ${message}`,
        cause ? { cause } : {},
      );
    // A bundle unpacked before is reused only while its files match the list written at extraction.
    let bundle: ModelBundle;
    let refused = '';
    try {
      bundle = await openBundle(storage, stateDir, ref.digest, (problem) => {
        refused = ` (its unpacked folder was refused: ${problem})`;
      });
    } catch (error) {
      if (error instanceof BundleMissing) throw failed(`${error.message}${refused}`);
      throw failed(
        `its bundle ${ref.digest} cannot be unpacked from storage ${storage.name}: ${messageOf(error)}${refused}`,
        error,
      );
    }
    const flavor = bundle.manifest.flavor;
    const loader = loaders[flavor];
    if (!loader) {
      const known = Object.keys(loaders).join(', ') || 'none';
      throw failed(`no loader for flavor "${flavor}" (loaders for: ${known})`);
    }
    try {
      return await loader(bundle);
    } catch (error) {
      throw failed(`the "${flavor}" loader failed: ${messageOf(error)}`, error);
    }
  }
}

async function unload(entry: LoadedModel): Promise<void> {
  const predictor = await entry.promise.catch(() => undefined);
  try {
    await predictor?.close?.();
  } catch {
    // Closing is best effort: the model is out of every route already.
  }
}

/**
 * Run the deploy request's sample rows through a freshly loaded version.
 * @throws CAIRN_DEPLOY_FAILED when it throws or answers the wrong number of predictions
 */
export async function healthCheck(
  predictor: Predictor,
  ref: ModelVersionRef,
  rows: readonly unknown[],
): Promise<void> {
  let answer: unknown;
  try {
    answer = await predictor.predict(rows);
  } catch (error) {
    throw new CairnError(
      ErrorCodes.DEPLOY_FAILED,
      `${describeRef(ref)} failed its health check: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (!Array.isArray(answer) || answer.length !== rows.length) {
    throw new CairnError(
      ErrorCodes.DEPLOY_FAILED,
      `${describeRef(ref)} failed its health check: expected ${rows.length} predictions, got ${
        Array.isArray(answer) ? answer.length : typeof answer
      }`,
    );
  }
}
