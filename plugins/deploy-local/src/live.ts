/**
 * What a serving deployer answers with: per endpoint the live revision,
 * which trails the newest revision on disk while its bundles load. Traffic
 * moves to a revision only once every bundle of it is loaded; a revision
 * that cannot load stalls (tried again later) and the previous one keeps
 * serving.
 */
import type { Deployment } from '@cairn/core';
import type { ModelCache } from './models';
import { messageOf, notLive } from './problems';
import { type KnownRevisions, keyOf } from './revisions';

/** A revision a serving deployer could not switch to: it keeps the one before. */
export interface Stalled {
  /** {@link keyOf} the revision that did not load. */
  key: string;
  error: string;
  retryAt: number;
}

/** A stalled revision is tried again after this long (a storage hiccup heals without a new deploy). */
const STALLED_RETRY_MS = 5000;

export class LiveRevisions {
  private readonly live = new Map<string, Deployment>();
  private readonly stalled = new Map<string, Stalled>();
  private readonly activating = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly revisions: KnownRevisions,
    private readonly models: ModelCache,
  ) {}

  /** The revision answering the endpoint's traffic now, if any. */
  get(endpoint: string): Deployment | undefined {
    return this.live.get(endpoint);
  }

  /** Why the endpoint's newest revision is not live, while it is stalled. */
  stalledOn(endpoint: string): Stalled | undefined {
    return this.stalled.get(endpoint);
  }

  /** Endpoints with a live revision. */
  endpoints(): string[] {
    return [...this.live.keys()];
  }

  /** Every live revision. */
  all(): Deployment[] {
    return [...this.live.values()];
  }

  /** Answer with `deployment` from now on (its bundles are loaded: a change written here, or start-up). */
  set(endpoint: string, deployment: Deployment): void {
    this.live.set(endpoint, deployment);
    this.stalled.delete(endpoint);
  }

  drop(endpoint: string): void {
    this.live.delete(endpoint);
    this.stalled.delete(endpoint);
  }

  /**
   * Switch to the endpoint's newest known revision: its bundles load first,
   * and only then does traffic move.
   */
  activate(endpoint: string): Promise<void> {
    const running = this.activating.get(endpoint);
    if (running) return running;
    const target = this.revisions.latest(endpoint);
    // A staging endpoint (a load test's candidate) is never served here, however it was found.
    if (!target || this.closed || target.staging) return Promise.resolve();
    const key = keyOf(target);
    const active = this.live.get(endpoint);
    if (active && keyOf(active) === key) {
      this.stalled.delete(endpoint);
      return Promise.resolve();
    }
    const stalled = this.stalled.get(endpoint);
    if (stalled?.key === key && Date.now() < stalled.retryAt) return Promise.resolve();
    const work = (async () => {
      try {
        await Promise.all(target.routes.map((route) => this.models.acquire(route.model)));
      } catch (error) {
        this.stalled.set(endpoint, {
          key,
          error: `revision ${target.revision} is not live (${messageOf(error)}); ${
            active ? `revision ${active.revision} keeps serving` : 'nothing serves this endpoint'
          }`,
          retryAt: Date.now() + STALLED_RETRY_MS,
        });
        return;
      }
      // Only forward: while it loaded, a newer revision (or a removal) may have landed.
      const latest = this.revisions.latest(endpoint);
      if (this.closed || !latest || keyOf(latest) !== key) return;
      this.set(endpoint, target);
    })().finally(() => this.activating.delete(endpoint));
    this.activating.set(endpoint, work);
    return work;
  }

  /**
   * The revision to answer with. An endpoint this process has not switched
   * to yet (written by another process since the last pass) is loaded now,
   * so a request never waits for the next pass.
   * @throws CAIRN_DEPLOY_FAILED when its bundles do not load (or still load)
   */
  async answering(endpoint: string): Promise<Deployment | undefined> {
    let active = this.live.get(endpoint);
    if (active) return active;
    const revisions = await this.revisions.refresh(endpoint);
    if (!revisions || revisions.at(-1)?.staging) return undefined;
    await this.activate(endpoint);
    active = this.live.get(endpoint);
    if (!active)
      throw notLive(endpoint, this.stalled.get(endpoint)?.error ?? 'its bundles are still loading');
    return active;
  }

  /** Start no more switches and wait for those running. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.activating.values());
  }
}
