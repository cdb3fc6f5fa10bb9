import { describePipelineConformance } from './feedback-pipeline.conformance.js';
import { pipelineBackends } from './helpers.js';

for (const [label, open] of pipelineBackends) describePipelineConformance(label, open);
