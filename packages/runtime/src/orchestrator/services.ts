/**
 * The live plugins a run lends to the steps that `use` them: one lender,
 * keyed by the stack slot each service comes from (`SERVICE_SLOTS` in the
 * core). Such steps run in the orchestrator's process, whatever the
 * executor, because these are connections the run holds.
 *
 * Services made from a descriptor (the deployer, the A/B engine) are created
 * on first use, once per run, and closed when the run ends: a pipeline
 * without delivery steps never starts them, and a run never leaves a server
 * behind. The deployer is created in `control` mode: a run changes what is
 * deployed; a serving process (`cairn serve`) answers the traffic.
 */
import {
  type AbTestDescriptor,
  CairnError,
  type DeployerDescriptor,
  deployerStateDir,
  ErrorCodes,
  type LentServices,
  type ModelLoader,
  type ModelRegistry,
  type Pipeline,
  SERVICE_SLOTS,
  type ServiceUse,
  type StorageDriver,
  servicesUsed,
} from '@cairn/core';
import { stateDirOf } from '../state-dir';

/** What a step may be lent, by what it uses. */
export type StepServices = Partial<LentServices>;

/** The plugins and settings the services are made from (a subset of RunOptions). */
export interface ServiceOptions {
  storage: StorageDriver;
  registry: ModelRegistry;
  deployer?: DeployerDescriptor;
  abtest?: AbTestDescriptor;
  /** Model loaders by bundle flavor, for the deployer (`serving.loaders` in cairn.config.ts). */
  loaders?: Record<string, ModelLoader>;
  /** Cairn's local state folder; the deployer keeps its state in `<stateDir>/deploy`. */
  stateDir: string;
}

type ServiceName = keyof LentServices;

/** A plugin descriptor of a lent slot: made into a live service once per run. */
interface LendableDescriptor {
  create(context: unknown): unknown;
}

/**
 * How each descriptor slot's live object is made. A slot whose plugin takes
 * the shared context as it is needs no entry: `base` is the default.
 */
const CONTEXTS: Partial<Record<ServiceName, (base: ServiceContext) => unknown>> = {
  deployer: (base) => ({ ...base, stateDir: deployerStateDir(base.stateDir) }),
  abtest: (base) => ({ stateDir: base.stateDir }),
};

/** What every lent plugin is created with. */
interface ServiceContext {
  storage: StorageDriver;
  loaders: Record<string, ModelLoader>;
  stateDir: string;
  mode: 'control';
}

/** The services a step uses, for callers that only need to know whether it uses any. */
export function usesServices(definition: { name?: string; uses?: readonly ServiceUse[] }): boolean {
  return servicesUsed(definition).length > 0;
}

/**
 * Refuse, before anything runs, a pipeline whose steps need a plugin the
 * stack does not have, naming the step and the missing slot.
 * @throws CAIRN_STACK_INVALID
 */
export function checkServices(
  pipeline: Pipeline,
  options: { deployer?: DeployerDescriptor; abtest?: AbTestDescriptor; env?: string },
): void {
  const problems: string[] = [];
  for (const node of pipeline.nodes) {
    for (const { service, optional } of servicesUsed(node.step.definition)) {
      const slot = SERVICE_SLOTS[service];
      if (optional || slot === 'metadata' || (options as Record<string, unknown>)[slot]) continue;
      problems.push(
        `step "${node.name}" uses the ${service}, but the stack has no ${slot} plugin (cairn add ${EMBEDDED[slot] ?? `<a ${slot} plugin>`})`,
      );
    }
  }
  if (problems.length > 0) {
    throw new CairnError(
      ErrorCodes.STACK_INVALID,
      `Pipeline "${pipeline.name}" needs plugins the stack (env ${options.env ?? 'local'}) does not have:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/** The embedded plugin of a slot, for the "add one" hint. */
const EMBEDDED: Partial<Record<string, string>> = { deployer: 'deploy-local', abtest: 'abtest-local' };

/** The services of a run or plan made from its options. */
export function runServices(
  options: Pick<ServiceOptions, 'storage' | 'deployer' | 'abtest' | 'loaders'> & {
    metadata: ModelRegistry;
    stateDir?: string;
  },
  projectDir: string,
): RunServices {
  return new RunServices({
    storage: options.storage,
    registry: options.metadata,
    stateDir: stateDirOf(projectDir, options.stateDir),
    ...(options.deployer ? { deployer: options.deployer } : {}),
    ...(options.abtest ? { abtest: options.abtest } : {}),
    ...(options.loaders ? { loaders: options.loaders } : {}),
  });
}

/** The services of one run: lent per step, created once, closed once at the end. */
export class RunServices {
  private readonly opened = new Map<ServiceName, Promise<{ close(): Promise<void> | void }>>();

  constructor(private readonly options: ServiceOptions) {}

  /** What the step uses, created on first use; optional services only when the stack has them. */
  async for(definition: { name?: string; uses?: readonly ServiceUse[] }): Promise<StepServices> {
    const lent: Record<string, unknown> = {};
    for (const { service, optional } of servicesUsed(definition)) {
      if (service === 'registry') {
        lent.registry = this.options.registry;
        continue;
      }
      const descriptor = this.descriptor(service);
      if (!descriptor) {
        if (optional) continue;
        throw new CairnError(ErrorCodes.STACK_INVALID, `The stack has no ${SERVICE_SLOTS[service]} plugin`);
      }
      lent[service] = await this.open(service, descriptor);
    }
    return lent as StepServices;
  }

  private descriptor(service: Exclude<ServiceName, 'registry'>): LendableDescriptor | undefined {
    return this.options[SERVICE_SLOTS[service]] as LendableDescriptor | undefined;
  }

  private open(service: ServiceName, descriptor: LendableDescriptor): Promise<unknown> {
    let live = this.opened.get(service);
    if (!live) {
      const base: ServiceContext = {
        storage: this.options.storage,
        loaders: this.options.loaders ?? {},
        stateDir: this.options.stateDir,
        mode: 'control',
      };
      const context = CONTEXTS[service]?.(base) ?? base;
      live = Promise.resolve(descriptor.create(context) as { close(): Promise<void> | void });
      this.opened.set(service, live);
    }
    return live;
  }

  /** Close what was opened; a close failure does not hide the run's own result. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.opened.values()].map((p) => p.then((service) => service.close()).catch(() => {})),
    );
  }
}
