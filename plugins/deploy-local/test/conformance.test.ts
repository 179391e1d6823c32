import { testDeployer } from '@cairn/testkit';
import { localDeployer } from '../src/index';

testDeployer({ name: 'local (HTTP on a free port)', create: () => localDeployer({ port: 0 }) });
testDeployer({ name: 'local (no server)', create: () => localDeployer({ serve: false }) });
