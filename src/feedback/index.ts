export {
  FeedbackPipeline,
  type FeedbackPipelineMemoryOptions,
  type FeedbackPipelineOptions,
} from './feedback-pipeline.js';
export type { PipelineStore } from './pipeline-store.js';
export * from './schemas.js';
export { canAdvance, PIPELINE_TRANSITIONS } from './transitions.js';
