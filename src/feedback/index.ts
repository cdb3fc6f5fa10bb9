export {
  FeedbackPipeline,
  type FeedbackPipelineMemoryOptions,
  type FeedbackPipelineOptions,
} from './feedback-pipeline.js';
export * from './schemas.js';
export { canAdvance, PIPELINE_TRANSITIONS } from './transitions.js';
export type { PipelineStore } from './pipeline-store.js';
