/**
 * What this process knows of the state folder: each endpoint's revisions
 * as last read, refreshed by signature (a `stat`) before every use, so
 * revisions written by other processes are seen without re-reading files
 * that did not change.
 */
import { type Deployment, ENDPOINT_NAME } from '@cairn/core';
import { listEndpoints, readEndpointFile, stateSignature } from './state';

/** The endpoint's state file as last read: its signature and revisions. */
interface Known {
  signature: string;
  revisions: Deployment[];
}

/** Identifies a revision across remove and redeploy, which restarts numbering at 1. */
export const keyOf = (deployment: Deployment) => `${deployment.revision}@${deployment.updatedAt}`;

export class KnownRevisions {
  private readonly known = new Map<string, Known>();
  /**
   * Reads are ticketed when they start; an entry is replaced only by a read
   * (or write) with a later ticket, so a slow read that began before a newer
   * write can never put an older revision back.
   */
  private ticket = 0;
  private readonly tickets = new Map<string, number>();

  constructor(private readonly stateDir: string) {}

  /** Endpoint names this process knows of. */
  names(): string[] {
    return [...this.known.keys()];
  }

  has(endpoint: string): boolean {
    return this.known.has(endpoint);
  }

  /** The newest revision known, without touching the disk. */
  latest(endpoint: string): Deployment | undefined {
    return this.known.get(endpoint)?.revisions.at(-1);
  }

  /** Every endpoint's revisions known, without touching the disk. */
  all(): Deployment[][] {
    return [...this.known.values()].map((entry) => entry.revisions);
  }

  /**
   * The endpoint's revisions as the state folder holds them now: a stat,
   * and a read only when the file changed since the last one.
   * @throws CAIRN_DEPLOY_FAILED naming a damaged file
   */
  async refresh(endpoint: string): Promise<Deployment[] | undefined> {
    if (typeof endpoint !== 'string' || !ENDPOINT_NAME.test(endpoint)) return undefined;
    const ticket = ++this.ticket;
    const signature = await stateSignature(this.stateDir, endpoint);
    if (signature === undefined) return this.remember(endpoint, ticket, undefined);
    const cached = this.known.get(endpoint);
    if (cached?.signature === signature) return cached.revisions;
    return this.readAt(endpoint, ticket);
  }

  /** Read the endpoint's file whatever its signature (under the endpoint's lock, before a change). */
  async read(endpoint: string): Promise<Deployment[] | undefined> {
    return this.readAt(endpoint, ++this.ticket);
  }

  private async readAt(endpoint: string, ticket: number): Promise<Deployment[] | undefined> {
    const read = await readEndpointFile(this.stateDir, endpoint);
    return this.remember(
      endpoint,
      ticket,
      read && { signature: read.signature, revisions: read.file.revisions },
    );
  }

  /** What this process just wrote (`signature` of the file written). */
  wrote(endpoint: string, signature: string, revisions: Deployment[]): void {
    this.remember(endpoint, ++this.ticket, { signature, revisions });
  }

  /** The endpoint is gone (removed here, or its file vanished). */
  forget(endpoint: string): void {
    this.remember(endpoint, ++this.ticket, undefined);
  }

  /**
   * The endpoint names on disk; endpoints whose files are gone are
   * forgotten, unless something newer was learnt about them meanwhile.
   */
  async listOnDisk(): Promise<string[]> {
    const ticket = ++this.ticket;
    const names = await listEndpoints(this.stateDir);
    for (const endpoint of [...this.known.keys()]) {
      if (!names.includes(endpoint)) this.remember(endpoint, ticket, undefined);
    }
    return names;
  }

  /** Store what a read or write taken at `ticket` found, unless something later is stored; returns the newest. */
  private remember(endpoint: string, ticket: number, entry: Known | undefined): Deployment[] | undefined {
    if (ticket < (this.tickets.get(endpoint) ?? 0)) return this.known.get(endpoint)?.revisions;
    this.tickets.set(endpoint, ticket);
    if (entry) this.known.set(endpoint, entry);
    else this.known.delete(endpoint);
    return entry?.revisions;
  }
}
