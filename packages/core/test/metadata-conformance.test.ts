import { testMetadata } from '@cairn/testkit';
import { memoryMetadata } from '../src/metadata/memory';

testMetadata({ name: 'memory', create: () => memoryMetadata() });
