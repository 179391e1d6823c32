import { testStorage } from '@cairn/testkit';
import { flipByte, store, uniquePrefix } from './helpers';

const prefix = uniquePrefix('conformance');
testStorage({ create: () => store(prefix), corrupt: (_driver, digest) => flipByte(prefix, digest) });
