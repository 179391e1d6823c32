import { inProcess, workerPool } from '@cairn/runtime';
import { testExecutor } from '../src/executor';

testExecutor({ name: 'in-process', create: () => inProcess() });
testExecutor({ name: 'worker-pool', create: () => workerPool({ size: 2 }) });
