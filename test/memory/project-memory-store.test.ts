import { memoryBackends } from './helpers.js';
import { describeMemoryStoreConformance } from './project-memory-store.conformance.js';

for (const [label, open] of memoryBackends) describeMemoryStoreConformance(label, open);
