/**
 * What the outcomes route must know and the A/B contract does not tell:
 * which units this endpoint's servers exposed in an experiment, and which
 * outcome event ids were already taken. Kept as empty marker files under
 * `<stateDir>/deployments/ledger/<experiment>/`, named by the sha256 of the
 * id, so every serving process on the state folder shares them, they
 * survive a restart, and "first writer wins" is one `open(…, 'wx')`.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deploymentsDir } from './state';

/** Marker names remembered in memory per ledger, so a unit exposed again costs no file system call. */
const REMEMBERED = 10_000;

const nameOf = (id: string) => createHash('sha256').update(id).digest('hex');

export class OutcomeLedger {
  /** Recent exposure markers known to exist; cleared when full (memory stays bounded). */
  private readonly exposed = new Set<string>();
  /** Exposures being written: an outcome that races its own prediction waits for them. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly made = new Set<string>();

  constructor(private readonly stateDir: string) {}

  private folder(experiment: string, kind: 'exposed' | 'events'): string {
    return join(deploymentsDir(this.stateDir), 'ledger', experiment, kind);
  }

  /** Create the marker `name` in `folder` with `flags`, making the folder when it is missing (also after a cleanup). */
  private async touch(folder: string, name: string, flags: 'a' | 'wx'): Promise<void> {
    if (!this.made.has(folder)) {
      await mkdir(folder, { recursive: true });
      this.made.add(folder);
    }
    try {
      await (await open(join(folder, name), flags)).close();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.made.delete(folder);
      await mkdir(folder, { recursive: true });
      this.made.add(folder);
      await (await open(join(folder, name), flags)).close();
    }
  }

  /** Remember that `unitId` was exposed in `experiment`, after `record` (the engine's write) succeeds. */
  expose(experiment: string, unitId: string, record: () => Promise<void>): Promise<void> {
    const key = `${experiment}\n${unitId}`;
    if (this.exposed.has(key)) return Promise.resolve();
    const running = this.pending.get(key);
    if (running) return running;
    const work = (async () => {
      await record();
      await this.touch(this.folder(experiment, 'exposed'), nameOf(unitId), 'a');
      if (this.exposed.size >= REMEMBERED) this.exposed.clear();
      this.exposed.add(key);
    })().finally(() => this.pending.delete(key));
    this.pending.set(key, work);
    return work;
  }

  /** Whether any server on the state folder exposed the unit in the experiment. */
  async wasExposed(experiment: string, unitId: string): Promise<boolean> {
    const key = `${experiment}\n${unitId}`;
    if (this.exposed.has(key)) return true;
    await this.pending.get(key)?.catch(() => undefined);
    if (this.exposed.has(key)) return true;
    return stat(join(this.folder(experiment, 'exposed'), nameOf(unitId))).then(
      () => true,
      () => false,
    );
  }

  /**
   * Take `eventId` for the experiment and run `record`; `false` when the id
   * was taken before (the outcome is a replay and `record` does not run). A
   * failed `record` gives the id back so that the client's retry counts.
   */
  async takeEvent(experiment: string, eventId: string, record: () => Promise<void>): Promise<boolean> {
    const folder = this.folder(experiment, 'events');
    const marker = join(folder, nameOf(eventId));
    try {
      await this.touch(folder, nameOf(eventId), 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    try {
      await record();
    } catch (error) {
      await rm(marker, { force: true });
      throw error;
    }
    return true;
  }
}
