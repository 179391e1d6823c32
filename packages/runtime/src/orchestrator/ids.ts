import { randomFillSync } from 'node:crypto';

/**
 * A time-ordered unique id with a prefix: `r_` runs, `e_` executions. Ids made
 * by one process sort in creation order as strings (a sequence number breaks
 * ties within a millisecond); a random tail keeps processes apart.
 */
export function newId(prefix: string): string {
  const now = Math.max(Date.now(), lastTime);
  sequence = now === lastTime ? sequence + 1 : 0;
  lastTime = now;
  // Four random bytes from a pool refilled 128 ids at a time: a hash per id cost ~5 µs.
  if (poolAt >= pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const random = pool.toString('hex', poolAt, poolAt + 4);
  poolAt += 4;
  return `${prefix}_${now.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${random}`;
}
const pool = Buffer.alloc(512);
let poolAt = pool.length;
let lastTime = 0;
let sequence = 0;
