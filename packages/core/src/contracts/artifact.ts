/**
 * The artifact-type contract: how a value a step returns becomes bytes in
 * storage, and how those bytes become a value again in the next step.
 *
 * The core ships `json`, `metrics`, `model`, `report`, `file` and `dir`;
 * `@cairn/tabular` adds `table`. Other packages add types with
 * {@link defineArtifactType} — the same factory the built-ins use.
 *
 * Serialized forms are either one file (`blob`) or one folder (`tree`). A
 * tree is stored as a deterministic tar (sorted entries, zeroed times and
 * owners), so the same folder always has the same digest. An artifact's
 * digest is the sha256 of its serialized bytes.
 *
 * @example
 * ```ts
 * export const csv = defineArtifactType<string[][]>({
 *   name: 'csv',
 *   form: 'blob',
 *   check: (v) => (Array.isArray(v) ? undefined : 'expected an array of rows'),
 *   serialize: (rows) => ({ bytes: new TextEncoder().encode(rows.map((r) => r.join(',')).join('\n')) }),
 *   deserialize: async ({ path }) => (await readFile(path, 'utf8')).split('\n').map((l) => l.split(',')),
 * });
 * ```
 */
import { CairnError, ErrorCodes } from '../errors';

/** What `serialize` hands back: bytes to store, or an existing file/folder to store as it is. */
export type SerializedArtifact =
  /** Small values: the bytes themselves. Only for `blob` types. */
  | { bytes: Uint8Array }
  /** A file to stream into storage without loading it (a `blob`). */
  | { file: string }
  /** A folder to pack as a deterministic tar (a `tree`). */
  | { dir: string };

/** Where a materialized artifact sits for `deserialize`: a file (blob) or a folder (tree). */
export interface MaterializedArtifact {
  path: string;
  /** The artifact's digest and size, for types that want to cache or describe. */
  digest: string;
  size: number;
  /**
   * The bytes, when the runner already holds them: small blobs are read once
   * to verify their digest and handed over here, so a type should use them
   * rather than read `path` again.
   */
  bytes?: Uint8Array;
}

/** Context given to serialize/deserialize. */
export interface ArtifactContext {
  /** A private scratch folder for this step attempt; types write trees here. */
  workdir: string;
  /** The output or input name this value is for (for messages and file names). */
  name: string;
}

/**
 * An artifact type. `T` is the value a step returns and receives, `Name` its
 * type name; both are carried into pipeline handles so the compiler checks
 * the wiring.
 */
export interface ArtifactType<T = unknown, Name extends string = string> {
  readonly kind: 'artifact-type';
  /** Type name stored in metadata and compared at run time, e.g. `'json'`, `'table'`. */
  readonly name: Name;
  /** One file or one folder. */
  readonly form: 'blob' | 'tree';
  /**
   * Check a value a step returned before serializing it.
   * @returns `undefined` when valid, else what is wrong ("expected a flat map of numbers")
   */
  check?(value: unknown): string | undefined;
  /** Turn a value into storable form. May write into `ctx.workdir`. */
  serialize(value: T, ctx: ArtifactContext): SerializedArtifact | Promise<SerializedArtifact>;
  /** Turn a materialized artifact back into a value. */
  deserialize(source: MaterializedArtifact, ctx: ArtifactContext): T | Promise<T>;
  /** Small JSON facts for the metadata store and `cairn artifacts show` (rows, schema, flavor). */
  describe?(value: T): Record<string, unknown> | undefined;
  /**
   * Phantom member: never set; it only carries `T` so that `table<Penguin>()`
   * and `model()` are different types to the compiler.
   */
  readonly __value?: (value: T) => T;
}

/** The value type carried by an artifact type. */
export type ValueOf<A> = A extends ArtifactType<infer T, string> ? T : never;

/** A map of names to artifact types: a step's `inputs` or `outputs`. */
export type ArtifactMap = Record<string, ArtifactType<any, string>>;

/** Values of a map of artifact types, as a step receives or returns them. */
export type ValuesOf<M extends ArtifactMap> = { [K in keyof M]: ValueOf<M[K]> };

/**
 * Define an artifact type. Returns the definition tagged with `kind`, after
 * checking that its name is a valid identifier.
 */
export function defineArtifactType<T, Name extends string = string>(
  definition: Omit<ArtifactType<T, Name>, 'kind' | '__value'>,
): ArtifactType<T, Name> {
  if (!/^[a-z][a-z0-9-]*(\/[a-z][a-z0-9-]*)?$/.test(definition.name)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `artifact type name "${definition.name}" must be lowercase letters, digits and dashes, optionally scoped ("pkg/name")`,
    );
  }
  return { kind: 'artifact-type', ...definition };
}

// ---------------------------------------------------------------------------
// the model bundle: what the `model` artifact type holds and deployers serve

/** One named input or output of a model. */
export interface ModelField {
  name: string;
  /** A type name the serving side understands: `'float32'`, `'string'`, `'category'`, `'tensor<float32>[1,4]'`. */
  type: string;
  /** For categorical fields: the allowed values. */
  values?: string[];
}

/** What a model is and how to call it; stored as `cairn-model.json`. */
export interface ModelManifest {
  /** How to load it: `'onnx'`, `'ml-random-forest'`, `'sklearn-pickle'`, … */
  flavor: string;
  framework?: { name: string; version: string };
  signature: { inputs: ModelField[]; outputs: ModelField[] };
  /** Libraries (name → version) needed to load it. */
  libraries?: Record<string, string>;
  /** Name of a file in `files` holding the preprocessing to apply before predicting. */
  preprocessing?: string;
  /** Anything else worth keeping with the model (JSON). */
  metadata?: Record<string, unknown>;
}

/**
 * A trained model: a manifest plus its payload files (weights, vocabularies).
 * File names are relative, `/`-separated paths; strings are stored as UTF-8.
 */
export interface ModelBundle {
  manifest: ModelManifest;
  files: Record<string, Uint8Array | string>;
}
