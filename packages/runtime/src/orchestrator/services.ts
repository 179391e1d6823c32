/**
 * The live plugins a run lends to the steps that declare them: the model
 * registry (`registry: true`), the deployer (`deployer: true`) and the A/B
 * engine (`abtest: true`). Such steps run in the orchestrator's process,
 * whatever the executor, because these are connections the run holds.
 *
 * The deployer and the A/B engine are created on first use, once per run,
 * and closed when the run ends: a pipeline without delivery steps never
 * starts them, and a run never leaves a server behind. The deployer is
 * created in `control` mode: a run changes what is deployed; a serving
 * process (`cairn serve`) answers the traffic.
 */
import { resolve } from 'node:path';
import {
  type AbTestDescriptor,
  type AbTestEngine,
  CairnError,
  type Deployer,
  type DeployerDescriptor,
  deployerStateDir,
  ErrorCodes,
  type ModelLoader,
  type ModelRegistry,
  type Pipeline,
  type StorageDriver,
} from '@cairn/core';

/** What a step may be lent, by what it declares. */
export interface StepServices {
  registry?: ModelRegistry;
  deployer?: Deployer;
  abtest?: AbTestEngine;
}

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

interface ServiceFlags {
  registry?: boolean;
  deployer?: boolean;
  /** `'optional'`: lent when the stack has one. */
  abtest?: boolean | 'optional';
}

/** Whether a step runs in the orchestrator's process to use what the run holds. */
export function usesServices(definition: ServiceFlags): boolean {
  return Boolean(definition.registry || definition.deployer || definition.abtest);
}

/**
 * Refuse, before anything runs, a pipeline whose steps need a plugin the
 * stack does not have, naming the step and how to add the plugin.
 * @throws CAIRN_STACK_INVALID
 */
export function checkServices(
  pipeline: Pipeline,
  options: { deployer?: DeployerDescriptor; abtest?: AbTestDescriptor; env?: string },
): void {
  const problems: string[] = [];
  for (const node of pipeline.nodes) {
    const definition = node.step.definition as ServiceFlags;
    if (definition.deployer && !options.deployer)
      problems.push(
        `step "${node.name}" deploys models, but the stack has no deployer (cairn add deploy-local)`,
      );
    if (definition.abtest === true && !options.abtest)
      problems.push(
        `step "${node.name}" runs A/B tests, but the stack has no abtest engine (cairn add abtest-local)`,
      );
  }
  if (problems.length > 0) {
    throw new CairnError(
      ErrorCodes.STACK_INVALID,
      `Pipeline "${pipeline.name}" needs plugins the stack (env ${options.env ?? 'local'}) does not have:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

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
    stateDir: resolve(projectDir, options.stateDir ?? '.cairn'),
    ...(options.deployer ? { deployer: options.deployer } : {}),
    ...(options.abtest ? { abtest: options.abtest } : {}),
    ...(options.loaders ? { loaders: options.loaders } : {}),
  });
}

/** The services of one run: lent per step, closed once at the end. */
export class RunServices {
  private deployer?: Promise<Deployer>;
  private abtest?: Promise<AbTestEngine>;

  constructor(private readonly options: ServiceOptions) {}

  /** What the step declared, created on first use. */
  async for(definition: ServiceFlags): Promise<StepServices> {
    const lent: StepServices = {};
    if (definition.registry) lent.registry = this.options.registry;
    if (definition.deployer) lent.deployer = await this.openDeployer();
    if (definition.abtest === true || (definition.abtest === 'optional' && this.options.abtest))
      lent.abtest = await this.openAbTest();
    return lent;
  }

  private openDeployer(): Promise<Deployer> {
    const descriptor = this.options.deployer;
    if (!descriptor) throw new CairnError(ErrorCodes.STACK_INVALID, 'The stack has no deployer');
    this.deployer ??= Promise.resolve(
      descriptor.create({
        storage: this.options.storage,
        loaders: this.options.loaders ?? {},
        stateDir: deployerStateDir(this.options.stateDir),
        mode: 'control',
      }),
    );
    return this.deployer;
  }

  private openAbTest(): Promise<AbTestEngine> {
    const descriptor = this.options.abtest;
    if (!descriptor) throw new CairnError(ErrorCodes.STACK_INVALID, 'The stack has no abtest engine');
    this.abtest ??= Promise.resolve(descriptor.create({ stateDir: this.options.stateDir }));
    return this.abtest;
  }

  /** Close what was opened; a close failure does not hide the run's own result. */
  async close(): Promise<void> {
    const opened = [this.deployer, this.abtest].filter((p) => p !== undefined);
    await Promise.all(opened.map((p) => p.then((service) => service.close()).catch(() => {})));
  }
}
