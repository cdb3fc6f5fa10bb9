import type { FeedbackPipeline } from './feedback-pipeline.js';

/**
 * What every feedback pipeline offers, whatever it stores on: the public methods of
 * {@link FeedbackPipeline}. `createStores()` gives the file-backed class; `createPostgresStores()`
 * (from `agent-stores/postgres`) gives another implementation with the same behaviour. Type your
 * code against this to take either.
 */
export type PipelineStore = Pick<
  FeedbackPipeline,
  'create' | 'advance' | 'get' | 'remove' | 'list' | 'stats' | 'close'
>;
