/**
 * An OpenFeature server provider over a Cairn A/B testing engine: a flag key
 * names an experiment, the targeting key is the unit id, and the flag's value
 * is the unit's variant (its name for string flags, its payload for boolean,
 * number and object flags). Assignment is the engine's, so an application
 * reading flags and a `cairn serve` canary agree on every unit.
 */
import {
  type AbTestDescriptor,
  type AbTestEngine,
  type Assignment,
  CairnError,
  ErrorCodes,
} from '@cairn/core';
import {
  type EvaluationContext,
  FlagNotFoundError,
  GeneralError,
  type JsonValue,
  type Logger,
  type Provider,
  type ResolutionDetails,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  type TrackingEventDetails,
  TypeMismatchError,
} from '@openfeature/server-sdk';

export interface CairnProviderOptions {
  /**
   * The A/B engine to read: an open engine, or the descriptor a stack holds
   * (`localAbtest()`), which the provider opens in `initialize` and closes in
   * `onClose`. An engine passed open stays the caller's to close.
   */
  engine: AbTestEngine | AbTestDescriptor;
  /** The state folder a descriptor is opened on. @default '.cairn' */
  stateDir?: string;
  /**
   * Record an exposure for every evaluation of a unit inside the experiment
   * (the engine keeps the first). Turn off when the application records
   * exposures itself, where the variant is actually shown.
   * @default true
   */
  recordExposures?: boolean;
}

/** The provider with the one extra it adds: waiting for its background writes. */
export interface CairnProvider extends Provider {
  /** Resolves once every exposure and `track` outcome started so far is written (or failed and was logged). */
  flush(): Promise<void>;
}

type FlagType = 'boolean' | 'string' | 'number' | 'object';

const isEngine = (value: unknown): value is AbTestEngine =>
  typeof (value as AbTestEngine | undefined)?.assign === 'function';
const isDescriptor = (value: unknown): value is AbTestDescriptor =>
  (value as AbTestDescriptor | undefined)?.kind === 'abtest' &&
  typeof (value as AbTestDescriptor).create === 'function';
// CairnError.is accepts errors of any copy of the core (an engine may bring its own).
const cairnCode = (error: unknown): string | undefined => (CairnError.is(error) ? error.code : undefined);

function validate(options: CairnProviderOptions): void {
  const problem = (message: string) =>
    new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `openfeature-provider: ${message}`);
  if (typeof options !== 'object' || options === null) throw problem('options: expected { engine }');
  if (!isEngine(options.engine) && !isDescriptor(options.engine)) {
    throw problem(
      'engine: expected an A/B engine or its descriptor, e.g. localAbtest() from @cairn/abtest-local',
    );
  }
  if (options.stateDir !== undefined && (typeof options.stateDir !== 'string' || options.stateDir === '')) {
    throw problem('stateDir: expected a non-empty folder path');
  }
  if (options.recordExposures !== undefined && typeof options.recordExposures !== 'boolean') {
    throw problem('recordExposures: expected true or false');
  }
}

/**
 * Create the provider.
 *
 * @example
 * ```ts
 * import { OpenFeature } from '@openfeature/server-sdk';
 * import { localAbtest } from '@cairn/abtest-local';
 * import { cairnProvider } from '@cairn/openfeature-provider';
 *
 * await OpenFeature.setProviderAndWait(cairnProvider({ engine: localAbtest() }));
 * const client = OpenFeature.getClient();
 * const variant = await client.getStringValue('ranker-v4', 'control', { targetingKey: userId });
 * ```
 */
export function cairnProvider(options: CairnProviderOptions): CairnProvider {
  validate(options);
  const recordExposures = options.recordExposures ?? true;
  const stateDir = options.stateDir ?? '.cairn';
  let engine: AbTestEngine | undefined = isEngine(options.engine) ? options.engine : undefined;
  const owned = !engine;
  // Exposures and outcomes are written after the value is returned: a flag read must not wait on a disk write.
  const pending = new Set<Promise<void>>();

  const background = (work: Promise<void>, logger: Logger, what: string) => {
    const tracked = work.catch((error) =>
      logger.error(`cairn provider: ${what} failed: ${(error as Error).message}`),
    );
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
  };

  const open = (): AbTestEngine => {
    if (!engine) throw new GeneralError('the Cairn provider is not initialized (no A/B engine open)');
    return engine;
  };

  async function assign(flagKey: string, context: EvaluationContext): Promise<Assignment> {
    const unit = context.targetingKey;
    if (typeof unit !== 'string' || unit === '') {
      throw new TargetingKeyMissingError(
        `flag "${flagKey}" needs a targetingKey (the unit id the experiment splits on)`,
      );
    }
    try {
      return await open().assign(flagKey, unit);
    } catch (error) {
      if (cairnCode(error) === ErrorCodes.EXPERIMENT_NOT_FOUND) {
        throw new FlagNotFoundError(`no experiment "${flagKey}"`);
      }
      if (error instanceof GeneralError) throw error;
      throw new GeneralError((error as Error).message);
    }
  }

  async function resolve<T>(
    type: FlagType,
    flagKey: string,
    context: EvaluationContext,
    logger: Logger,
  ): Promise<ResolutionDetails<T>> {
    const assignment = await assign(flagKey, context);
    const value = type === 'string' ? assignment.variant : assignment.payload;
    const matches =
      type === 'object'
        ? typeof value === 'object' && value !== null
        : typeof value === type && !(type === 'number' && !Number.isFinite(value));
    if (!matches) {
      throw new TypeMismatchError(
        type === 'string'
          ? `experiment "${flagKey}" has no string variant name`
          : `variant "${assignment.variant}" of experiment "${flagKey}" has ${value === undefined ? 'no payload' : `a ${Array.isArray(value) ? 'array' : typeof value} payload`}; a ${type} flag reads the variant's payload`,
      );
    }
    let reason: string = StandardResolutionReasons.SPLIT;
    if (assignment.inExperiment) {
      if (recordExposures) {
        background(open().recordExposure(flagKey, context.targetingKey!), logger, `exposure of "${flagKey}"`);
      }
    } else {
      // Not in the experiment: either it is concluded (everyone gets the winner) or the unit is outside coverage (the control).
      const experiment = await open().getExperiment(flagKey);
      reason =
        experiment?.status === 'concluded'
          ? StandardResolutionReasons.STATIC
          : StandardResolutionReasons.DEFAULT;
    }
    return {
      value: value as T,
      variant: assignment.variant,
      reason,
      flagMetadata: { experiment: flagKey, inExperiment: assignment.inExperiment },
    };
  }

  return {
    metadata: { name: 'cairn' },
    runsOn: 'server',
    async initialize() {
      if (!engine && isDescriptor(options.engine)) engine = await options.engine.create({ stateDir });
    },
    async onClose() {
      await Promise.all(pending);
      if (owned && engine) {
        const closing = engine;
        engine = undefined;
        await closing.close();
      }
    },
    async flush() {
      while (pending.size > 0) await Promise.all(pending);
    },
    resolveBooleanEvaluation(flagKey, _defaultValue, context, logger) {
      return resolve<boolean>('boolean', flagKey, context, logger);
    },
    resolveStringEvaluation(flagKey, _defaultValue, context, logger) {
      return resolve<string>('string', flagKey, context, logger);
    },
    resolveNumberEvaluation(flagKey, _defaultValue, context, logger) {
      return resolve<number>('number', flagKey, context, logger);
    },
    resolveObjectEvaluation<T extends JsonValue>(
      flagKey: string,
      _defaultValue: T,
      context: EvaluationContext,
      logger: Logger,
    ) {
      return resolve<T>('object', flagKey, context, logger);
    },
    /**
     * `client.track(metric, { targetingKey }, { experiment, value, eventId })`
     * records an outcome of the unit on the experiment's metric; `value`
     * defaults to 1 (a conversion). An event without an experiment or a
     * targeting key is refused (the SDK logs the error): an outcome belongs
     * to a unit of one experiment.
     */
    track(trackingEventName: string, context: EvaluationContext, details: TrackingEventDetails) {
      const experiment = details?.experiment;
      const unit = context.targetingKey;
      if (typeof unit !== 'string' || unit === '') {
        throw new TargetingKeyMissingError(
          `track("${trackingEventName}") needs a targetingKey (the unit id)`,
        );
      }
      if (typeof experiment !== 'string') {
        throw new GeneralError(
          `track("${trackingEventName}") needs details.experiment (the experiment the metric belongs to)`,
        );
      }
      if (!engine) throw new GeneralError('the Cairn provider is not initialized (no A/B engine open)');
      // A number is an id too (an order number): dropping it would count every retry again.
      const given = details.eventId;
      if (
        given !== undefined &&
        typeof given !== 'string' &&
        !(typeof given === 'number' && Number.isFinite(given))
      ) {
        throw new GeneralError(
          `track("${trackingEventName}"): details.eventId must be a string or a number, got ${typeof given}`,
        );
      }
      const eventId = given === undefined ? undefined : String(given);
      background(
        engine.recordOutcome(
          experiment,
          unit,
          trackingEventName,
          details.value ?? 1,
          eventId ? { eventId } : {},
        ),
        // track has no logger argument; the console is what the SDK's default logger uses too.
        console as unknown as Logger,
        `outcome "${trackingEventName}" of "${experiment}"`,
      );
    },
  };
}

export default cairnProvider;
