import { testAbTest } from '@cairn/testkit';
import { localAbtest } from '../src/index';

testAbTest({ name: 'local (:memory:)', create: () => localAbtest({ file: ':memory:' }), persistent: false });
testAbTest({ name: 'local (file in stateDir)', create: () => localAbtest() });
