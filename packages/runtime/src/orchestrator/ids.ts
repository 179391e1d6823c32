import { createHash } from 'node:crypto';

/**
 * A time-ordered unique id with a prefix: `r_` runs, `e_` executions. Ids made
 * by one process sort in creation order as strings (a sequence number breaks
 * ties within a millisecond); a random tail keeps processes apart.
 */
export function newId(prefix: string): string {
  const now = Math.max(Date.now(), lastTime);
  sequence = now === lastTime ? sequence + 1 : 0;
  lastTime = now;
  const random = createHash('sha256')
    .update(`${process.pid}:${performance.now()}:${Math.random()}`)
    .digest('hex')
    .slice(0, 8);
  return `${prefix}_${now.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${random}`;
}
let lastTime = 0;
let sequence = 0;
