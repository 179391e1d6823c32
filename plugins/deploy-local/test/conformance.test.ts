import { testDeployer } from '@cairn/testkit';
import { localDeployer } from '../src/index';

testDeployer({ name: 'local (HTTP on a free port)', create: () => localDeployer({ port: 0 }) });
testDeployer({ name: 'local (no server)', create: () => localDeployer({ serve: false }) });
// What a pipeline step or `cairn deploy` gets: no server, models loaded on demand.
testDeployer({
  name: 'local (control mode)',
  create: () => {
    const descriptor = localDeployer({ port: 0 });
    return { ...descriptor, create: (context) => descriptor.create({ ...context, mode: 'control' }) };
  },
});
