/**
 * The cache decision: a step's cache key (its code fingerprint is in ./code), and whether
 * a completed execution with the same key can be reused because its outputs
 * still verify in storage. Also why a step runs again (`missReason`).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ArtifactMap,
  type ArtifactRef,
  type CacheEntry,
  type ExecutionRecord,
  type MetadataStore,
  type PipelineNode,
  type PlanReason,
  type StorageDriver,
  sha256,
} from '@cairn/core';
import { materializeArtifact } from '../artifacts/io';
import { codeChange, rememberedCode } from './code';
import type { PreparedRun } from './prepare';
import type { RunServices } from './services';
import type { VerifiedStamps } from './stamps';

/** The cache key: step, code, config and input digests, canonically encoded. */
export function cacheKey(
  node: PipelineNode,
  prepared: PreparedRun,
  inputs: Record<string, ArtifactRef>,
): string {
  return keyOf(
    node.name,
    prepared.code.get(node.name)!.fingerprint,
    prepared.configs.get(node.name)!.digest,
    inputs,
  );
}

/**
 * sha256 of `canonicalJson({ step, code, config, inputs: name → digest })`, byte for byte, written
 * out rather than walked: every step of every run computes one (a 1,000-step no-op, 1,000).
 */
export function keyOf(
  step: string,
  code: string,
  config: string | undefined,
  inputs: Record<string, ArtifactRef>,
): string {
  // Inserted in sorted order and serialized by JSON.stringify, as canonicalJson does (so integer-like
  // names still come first).
  const inputDigests: Record<string, string> = {};
  for (const name of Object.keys(inputs).sort()) inputDigests[name] = inputs[name]!.digest;
  const configPart = config === undefined ? '' : `"config":${JSON.stringify(config)},`;
  return sha256(
    `{"code":${JSON.stringify(code)},${configPart}"inputs":${JSON.stringify(inputDigests)},"step":${JSON.stringify(step)}}`,
  );
}

/** How many earlier runs {@link PreviousExecutions} looks back over for a step's last execution. */
const LOOK_BACK_RUNS = 5;

/**
 * The most recent execution of each step in earlier runs of this pipeline
 * (looking back a few runs), so a re-execution can say what changed. Read
 * on the first `get`: only a step that runs needs it, so a run where every
 * step is cached never reads (nor parses) the executions of earlier runs.
 */
export class PreviousExecutions {
  private loaded: Promise<Map<string, ExecutionRecord>> | undefined;
  /** The run that is asking, once it is recorded: its own executions are not "earlier". */
  ownRun: string | undefined;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly pipelineName: string,
    private readonly stepCount: number,
  ) {}

  get(step: string): Promise<ExecutionRecord | undefined> {
    this.loaded ??= this.load();
    return this.loaded.then((found) => found.get(step));
  }

  private async load(): Promise<Map<string, ExecutionRecord>> {
    const found = new Map<string, ExecutionRecord>();
    // Two runs at a time, newest first (this run and the one before it, usually all it takes): a
    // run record holds every step's config digest, so each one listed costs a parse that grows
    // with the pipeline.
    let before: string | undefined;
    let looked = 0;
    while (looked < LOOK_BACK_RUNS && found.size < this.stepCount) {
      const page = await this.metadata.listRuns({
        pipeline: this.pipelineName,
        limit: 2,
        ...(before === undefined ? {} : { before }),
      });
      for (const run of page) {
        if (run.id === this.ownRun || looked >= LOOK_BACK_RUNS || found.size >= this.stepCount) continue;
        looked++;
        for (const execution of await this.metadata.listExecutions(run.id)) {
          if (execution.status !== 'succeeded' && execution.status !== 'cached') continue;
          if (!found.has(execution.step)) found.set(execution.step, execution);
        }
      }
      if (page.length < 2) break;
      before = page.at(-1)!.id;
    }
    return found;
  }
}

/**
 * Why a step whose key has no cache entry must run. A code change names what
 * changed: the previous execution's fingerprint is the remembered one that
 * gives back its cache key (with its recorded config and inputs).
 */
async function missReason(
  node: PipelineNode,
  prepared: PreparedRun,
  inputs: Record<string, ArtifactRef>,
  previous: ExecutionRecord | undefined,
): Promise<{ reason: 'new' | 'config-changed' | 'input-changed' | 'code-changed'; detail?: string }> {
  const reason = changeSince(previous, { configDigest: prepared.configs.get(node.name)!.digest, inputs });
  if (reason !== 'code-changed' || !previous) return { reason };
  const before = await rememberedCode(
    prepared.stateDir,
    node.step.definition.name,
    (fingerprint) => keyOf(node.name, fingerprint, previous.configDigest, previous.inputs),
    previous.cacheKey,
  );
  const detail = before ? codeChange(before, prepared.code.get(node.name)!.parts) : undefined;
  return detail ? { reason, detail } : { reason };
}

/**
 * What changed since a step's previous execution, judged from what is
 * recorded: its config digest, then its input digests; when neither, the
 * code. The orchestrator says it when a step runs again, and the dashboard
 * says the same of a recorded execution.
 */
export function changeSince(
  previous: Pick<ExecutionRecord, 'configDigest' | 'inputs'> | undefined,
  current: { configDigest?: string; inputs: Record<string, ArtifactRef> },
): 'new' | 'config-changed' | 'input-changed' | 'code-changed' {
  if (!previous) return 'new';
  if (previous.configDigest && current.configDigest && previous.configDigest !== current.configDigest)
    return 'config-changed';
  for (const [name, ref] of Object.entries(current.inputs)) {
    if (previous.inputs[name]?.digest !== ref.digest) return 'input-changed';
  }
  return 'code-changed';
}

type VerifyState = 'ok' | 'missing' | 'corrupt';

/**
 * The first output of a cache entry that is gone or corrupt in storage, if any (corruption first:
 * it is the worse news). `undefined` at once, without a promise, when every output's stamp holds
 * (the common case: each cached step of a rerun asks); a promise when any output must be hashed.
 */
function brokenOutput(
  storage: StorageDriver,
  outputs: Record<string, ArtifactRef>,
  stamps: VerifiedStamps | undefined,
): Promise<{ reason: 'missing-artifact' | 'corrupt'; detail: string } | undefined> | undefined {
  const entries = Object.entries(outputs);
  const results: Array<VerifyState | Promise<VerifyState>> = entries.map(([, ref]) =>
    stamps ? stamps.verify(storage, ref.digest) : storage.verify(ref.digest),
  );
  if (results.every((state) => state === 'ok')) return undefined;
  return Promise.all(results).then((states) => {
    const at = (state: VerifyState) => states.indexOf(state);
    const index = at('corrupt') >= 0 ? at('corrupt') : at('missing');
    if (index < 0) return undefined;
    const [name, ref] = entries[index]!;
    return {
      reason: states[index] === 'corrupt' ? ('corrupt' as const) : ('missing-artifact' as const),
      detail: `output ${name} ${ref.digest}`,
    };
  });
}

/** The declared outputs (names and types) match what a cache entry holds. */
function outputsMatch(node: PipelineNode, outputs: Record<string, ArtifactRef>): boolean {
  const declared = Object.entries(node.step.definition.outputs);
  if (declared.length !== Object.keys(outputs).length) return false;
  return declared.every(([name, type]) => outputs[name]?.type === (type as { name: string }).name);
}

/**
 * Whether a verified cache entry may be reused: steps with a `reuse` check
 * get their cached output values (and what they declare: the registry, the
 * deployer, the A/B engine) and may refuse. Steps without one always reuse.
 */
async function reusable(
  node: PipelineNode,
  prepared: PreparedRun,
  outputs: Record<string, ArtifactRef>,
  storage: StorageDriver,
  services: RunServices,
  tmpDir: string,
): Promise<boolean> {
  const definition = node.step.definition;
  if (!definition.reuse) return true;
  await mkdir(tmpDir, { recursive: true });
  const workdir = await mkdtemp(join(tmpDir, `${node.name}-reuse-`));
  try {
    const values: Record<string, unknown> = {};
    for (const [name, type] of Object.entries(definition.outputs as ArtifactMap)) {
      const ref = outputs[name]!;
      const path = await materializeArtifact(storage, ref, type.form, join(workdir, name));
      values[name] = await type.deserialize({ path, digest: ref.digest, size: ref.size }, { workdir, name });
    }
    return await definition.reuse({
      outputs: values as never,
      config: prepared.configs.get(node.name)!.value,
      ...(await services.for(definition)),
    });
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

/** What the cache says about one step: reuse this entry, or run for this reason. */
export type CacheDecision =
  | { reuse: CacheEntry }
  | { reason: Exclude<PlanReason, 'cached' | 'upstream'>; detail?: string; broken?: CacheEntry };

/**
 * The one cache decision `runPipeline` acts on and `planPipeline` reports:
 * forced and uncacheable steps run; an entry is reused only when its outputs
 * match the declaration, still verify in storage, and pass the step's
 * `reuse` check. `broken` is an entry whose bytes are gone or corrupt (the
 * run forgets it; the plan only says so). Reads only; writes nothing.
 */
export async function decideCache(
  node: PipelineNode,
  prepared: PreparedRun,
  key: string,
  inputs: Record<string, ArtifactRef>,
  context: {
    storage: StorageDriver;
    metadata: MetadataStore;
    noCache?: boolean;
    previous: PreviousExecutions;
    tmpDir: string;
    /** Lends the registry, deployer and A/B engine to `reuse` checks that declare them. */
    services: RunServices;
    /** Trust an output whose file still has the stamp it had when last hashed (see ./stamps); else hash every output. */
    stamps?: VerifiedStamps | undefined;
  },
): Promise<CacheDecision> {
  if (prepared.force.has(node.name)) return { reason: 'forced' };
  if (node.step.definition.cache === false || context.noCache) return { reason: 'no-cache' };
  const entry = await context.metadata.lookupCache(key);
  if (!entry) return missReason(node, prepared, inputs, await context.previous.get(node.name));
  if (!outputsMatch(node, entry.outputs)) return { reason: 'missing-artifact', broken: entry };
  const checking = brokenOutput(context.storage, entry.outputs, context.stamps);
  const broken = checking && (await checking);
  if (broken) return { ...broken, broken: entry };
  if (!node.step.definition.reuse) return { reuse: entry };
  const reuse = await reusable(
    node,
    prepared,
    entry.outputs,
    context.storage,
    context.services,
    context.tmpDir,
  );
  return reuse ? { reuse: entry } : { reason: 'state-changed' };
}
