/** Questions on a terminal; with no terminal nothing ever waits (answers are the defaults). */
import { createInterface } from 'node:readline/promises';

export function interactive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

export async function ask(question: string, fallback: string): Promise<string> {
  if (!interactive()) return fallback;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await rl.question(`${question} (${fallback}) `)).trim();
    return answer === '' ? fallback : answer;
  } finally {
    rl.close();
  }
}
