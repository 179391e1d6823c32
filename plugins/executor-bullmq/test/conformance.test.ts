import { testExecutor } from '@cairn/testkit';
import { afterAll, beforeAll, inject } from 'vitest';
import { bullmqExecutor } from '../src/index';
import { type ChildWorker, startChildWorker, uniqueQueue } from './helpers';

// Two worker processes on one queue take the suite's steps (its pipelines come from @cairn/testkit's fixtures).
const queue = uniqueQueue('conformance');
let workers: ChildWorker[] = [];
beforeAll(async () => {
  workers = await Promise.all(
    [1, 2].map(() => startChildWorker({ url: inject('redisUrl'), queue, concurrency: 2 })),
  );
});
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
});

testExecutor({
  name: 'bullmq',
  create: () => bullmqExecutor({ connection: inject('redisUrl'), queue, allowLocalStorage: true }),
});
