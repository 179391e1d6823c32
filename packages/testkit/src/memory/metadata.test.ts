import { testMetadata } from '@cairn/testkit';
import { memoryMetadata } from './metadata';

testMetadata({ name: 'memory', create: () => memoryMetadata() });
