/**
 * Canary endpoints judged as A/B experiments: an exposure for every unit a
 * canary endpoint answers, and the outcomes route's intake, checked against
 * the units exposed and the event ids already taken (see ledger.ts).
 */
import { type AbTestEngine, CairnError, canaryExperimentFor, type Deployment, ErrorCodes } from '@cairn/core';
import { OutcomeLedger } from './ledger';
import { notFound } from './problems';
import { keyOf } from './revisions';

/** An outcome for the canary's experiment, as the outcomes route takes it. */
export interface OutcomeRequest {
  unitId: string;
  value: number;
  metric?: string;
  /** Deduplication key: required, so that a client's retry never counts twice. */
  eventId: string;
}

/** What the outcomes route answers: recorded now, or a replay of an event id taken before. */
export type OutcomeAnswer =
  | { recorded: true; experiment: string; metric: string }
  | { recorded: false; duplicate: true; experiment: string; metric: string };

export class CanaryExposures {
  private readonly ledger: OutcomeLedger;
  /** Exposures recorded off the request's path, not finished yet. */
  private readonly exposing = new Set<Promise<void>>();
  /** Canary experiment name by endpoint@revision ('' when the revision has none). */
  private readonly experiments = new Map<string, string>();

  /** @param history the endpoint's revisions as the state folder holds them, oldest first */
  constructor(
    private readonly engine: AbTestEngine | undefined,
    stateDir: string,
    private readonly history: (endpoint: string) => Promise<Deployment[]>,
  ) {
    this.ledger = new OutcomeLedger(stateDir);
  }

  /**
   * While the endpoint has a canary and the stack has an A/B engine: the
   * unit saw its arm of the canary's experiment. Off the request's path, and
   * a failure (no experiment: the canary was deployed without an engine)
   * never fails the prediction.
   */
  record(endpoint: string, deployment: Deployment, unitId: string): void {
    const engine = this.engine;
    if (!engine || !deployment.routes.some((route) => route.role === 'canary')) return;
    const work = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.experimentOf(endpoint, deployment))
      .then((experiment) =>
        experiment
          ? this.ledger.expose(experiment, unitId, () => engine.recordExposure(experiment, unitId))
          : undefined,
      )
      .catch(() => {})
      .finally(() => this.exposing.delete(work));
    this.exposing.add(work);
  }

  /** Wait for the exposures on their way (before closing). */
  async settle(): Promise<void> {
    await Promise.all(this.exposing);
  }

  /**
   * The canary experiment of the revision serving (see canaryExperimentFor),
   * read from the endpoint's history once per revision, not per request.
   */
  private async experimentOf(endpoint: string, deployment: Deployment): Promise<string | undefined> {
    const key = `${endpoint}@${keyOf(deployment)}`;
    let name = this.experiments.get(key);
    if (name === undefined) {
      const history = await this.history(endpoint);
      const served = history.findIndex((d) => keyOf(d) === keyOf(deployment));
      name = canaryExperimentFor(served < 0 ? [deployment] : history.slice(0, served + 1))?.name ?? '';
      this.experiments.set(key, name);
    }
    return name || undefined;
  }

  /**
   * An outcome of a unit served by the endpoint's canary experiment (what
   * `POST /v1/endpoints/<name>/outcomes` takes). Each `eventId` counts once:
   * a replay answers `recorded: false, duplicate: true` and changes nothing.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND when there is no engine, no canary, or no experiment for it
   * @throws CAIRN_EXPERIMENT_INVALID for a unit this endpoint never exposed in the experiment, or a value the experiment's metric refuses
   */
  async recordOutcome(endpoint: string, outcome: OutcomeRequest): Promise<OutcomeAnswer> {
    const engine = this.engine;
    if (!engine) {
      throw new CairnError(
        ErrorCodes.EXPERIMENT_NOT_FOUND,
        'this server has no A/B engine: add one to the stack (cairn add abtest-local) to judge canaries by outcomes',
      );
    }
    const history = await this.history(endpoint);
    if (history.length === 0) throw notFound(endpoint);
    const judged = canaryExperimentFor(history);
    if (!judged)
      throw new CairnError(ErrorCodes.EXPERIMENT_NOT_FOUND, `endpoint ${endpoint} has no canary to judge`);
    const experiment = judged.name;
    const definition = await engine.getExperiment(experiment);
    if (!definition) {
      throw new CairnError(
        ErrorCodes.EXPERIMENT_NOT_FOUND,
        `endpoint ${endpoint}'s canary v${judged.canary.model.version} has no experiment ${experiment} (deploy it with an A/B engine in the stack)`,
      );
    }
    const metric = outcome.metric ?? definition.primaryMetric.name;
    // An outcome for a unit never served here would be credited to the arm its hash names: a forged vote.
    let exposed = await this.ledger.wasExposed(experiment, outcome.unitId);
    if (!exposed && this.exposing.size > 0) {
      // Its prediction may have been answered a moment ago, the exposure still on its way.
      await this.settle();
      exposed = await this.ledger.wasExposed(experiment, outcome.unitId);
    }
    if (!exposed) {
      throw new CairnError(
        ErrorCodes.EXPERIMENT_INVALID,
        `unit ${JSON.stringify(outcome.unitId)} was never exposed in ${experiment}: send its predictions with this unitId first`,
        { context: { outcome: 'unit-not-exposed' } },
      );
    }
    const recorded = await this.ledger.takeEvent(experiment, outcome.eventId, () =>
      engine.recordOutcome(experiment, outcome.unitId, metric, outcome.value, { eventId: outcome.eventId }),
    );
    return recorded
      ? { recorded: true, experiment, metric }
      : { recorded: false, duplicate: true, experiment, metric };
  }
}
