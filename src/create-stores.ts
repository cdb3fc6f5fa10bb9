import * as path from 'node:path';
import { AgentEventLog, type AgentEventLogOptions } from './events/index.js';
import { FeedbackPipeline, type FeedbackPipelineOptions } from './feedback/index.js';
import { ProjectMemoryStore, type ProjectMemoryStoreOptions } from './memory/index.js';
import { AnalysisRunStore, type AnalysisRunStoreOptions } from './runs/index.js';
import type { Clock } from './storage/clock.js';
import { closeInStages } from './storage/close-in-stages.js';
import { ValidationError } from './storage/errors.js';

/** The default file and directory names under the root (see "What is on disk" in the README). */
export const STORE_FILE_NAMES = {
  memory: 'analysis_project_memory.json',
  pipeline: 'feedback_pipeline.json',
  events: 'agent_events',
  runs: 'analysis_runs',
} as const;

/** Options of {@link createStores}. Each store's own options override the shared ones. */
export interface CreateStoresOptions {
  /**
   * The directory that holds every store's files (created on the first write, not before).
   * @defaultValue 'logs' (relative to the working directory)
   */
  root?: string;
  /** Source of time for all four stores, unless a store's options give its own. @defaultValue the system clock */
  clock?: Clock;
  /** Options of the {@link ProjectMemoryStore}. @defaultValue `path`: `<root>/analysis_project_memory.json` */
  memory?: Partial<ProjectMemoryStoreOptions>;
  /** Options of the {@link FeedbackPipeline}. @defaultValue `path`: `<root>/feedback_pipeline.json` */
  pipeline?: Partial<FeedbackPipelineOptions>;
  /** Options of the {@link AgentEventLog}. @defaultValue `dir`: `<root>/agent_events` */
  events?: Partial<AgentEventLogOptions>;
  /**
   * Options of the {@link AnalysisRunStore}; its `events` is always the log above.
   * @defaultValue `dir`: `<root>/analysis_runs`
   */
  runs?: Partial<Omit<AnalysisRunStoreOptions, 'events'>>;
}

/** The four stores over one root, as {@link createStores} returns them. */
export interface Stores {
  memory: ProjectMemoryStore;
  pipeline: FeedbackPipeline;
  events: AgentEventLog;
  /** Wired to `events`: its terminal events and cleanup's `error` events go to that log. */
  runs: AnalysisRunStore;
  /**
   * Closes all four stores: the run store first (its heartbeat and cleanup timers stopped, status
   * changes in flight settled), then the event log (appends in flight settled, follows ended,
   * locks and files released) and the two JSON stores. Resolves once all of that is done;
   * afterwards the stores' methods reject with `StoreClosedError`. Idempotent, and a later call
   * closes again whatever was used in between. When a store's close fails the others are still
   * closed, then the first failure is thrown.
   */
  close(): Promise<void>;
}

/**
 * Opens the four stores under one root with the default file names — the embedded setup a new
 * user gets:
 *
 * ```
 * <root>/analysis_project_memory.json   ProjectMemoryStore
 * <root>/feedback_pipeline.json         FeedbackPipeline
 * <root>/agent_events/                  AgentEventLog
 * <root>/analysis_runs/                 AnalysisRunStore (wired to the event log)
 * ```
 *
 * Nothing is read or created until a store is used, so opening is cheap: a process that only
 * lists running runs reads `analysis_runs/active/` and nothing else.
 *
 * @throws ValidationError when `root` is not a non-empty string, or a store's options are invalid.
 */
export function createStores(options: CreateStoresOptions = {}): Stores {
  const root = options.root ?? 'logs';
  if (typeof root !== 'string' || root === '') {
    throw new ValidationError('createStores needs root to be a non-empty directory path (default: logs)');
  }
  const clock = options.clock;
  const withClock = clock === undefined ? {} : { clock };
  const memory = new ProjectMemoryStore({
    path: path.join(root, STORE_FILE_NAMES.memory),
    ...withClock,
    ...options.memory,
  });
  const pipeline = new FeedbackPipeline({
    path: path.join(root, STORE_FILE_NAMES.pipeline),
    ...withClock,
    ...options.pipeline,
  });
  const events = new AgentEventLog({ dir: path.join(root, STORE_FILE_NAMES.events), ...withClock, ...options.events });
  const runs = new AnalysisRunStore({
    dir: path.join(root, STORE_FILE_NAMES.runs),
    ...withClock,
    ...options.runs,
    events,
  });
  return {
    memory,
    pipeline,
    events,
    runs,
    close: () =>
      // The run store first, then the log and the JSON stores. Every call closes every store
      // again (each close is idempotent), so a second call after new activity still closes
      // whatever that activity opened.
      closeInStages([() => runs.close()], [() => events.close(), () => memory.close(), () => pipeline.close()]),
  };
}
