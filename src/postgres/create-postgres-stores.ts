import type { EventLog } from '../events/event-log.js';
import { PostgresEventLog } from '../events/postgres-event-log.js';
import type { PipelineStore } from '../feedback/pipeline-store.js';
import { PostgresFeedbackPipeline } from '../feedback/postgres-feedback-pipeline.js';
import type { MemoryStore } from '../memory/memory-store.js';
import { PostgresMemoryStore } from '../memory/postgres-memory-store.js';
import { PostgresRunStore } from '../runs/postgres-run-store.js';
import type { RunStore } from '../runs/run-store.js';
import type { Clock } from '../storage/clock.js';
import { closeInStages } from '../storage/close-in-stages.js';
import type { PostgresConnectionOptions } from './connection.js';
import { PostgresDatabase } from './database.js';

/** Options of the event log of {@link createPostgresStores}, as for `AgentEventLog` where they apply. */
export interface PostgresEventLogOptions {
  /** Event types that end (seal) a run. @defaultValue `['analysis_completed', 'error', 'end']` */
  terminalTypes?: string[] | undefined;
  /** The largest event accepted, in bytes of its JSON line. @defaultValue 1 MiB */
  maxEventBytes?: number | undefined;
  /**
   * How often a follower also asks the database whether its run moved on, in case a notification
   * was lost. @defaultValue 1_000
   */
  pollMs?: number | undefined;
}

/** Options of the run store of {@link createPostgresStores}, as for `AnalysisRunStore`. */
export interface PostgresRunStoreOptions {
  /** A live run with no sign of life for this many ms is stale (cleanup fails it). @defaultValue 90_000 */
  staleAfterMs?: number | undefined;
  /**
   * Told about a run row whose record fails the run schema (written by hand, say); `list()` and
   * `cleanup()` skip it. @defaultValue a process warning
   */
  onWarning?: ((warning: { code: 'UNREADABLE_RUN'; runId: string; file: string; message: string }) => void) | undefined;
}

/** Options of {@link createPostgresStores}: where the database is, and the stores' own options. */
export type CreatePostgresStoresOptions = PostgresConnectionOptions & {
  /**
   * Source of time for all four stores. `updatedAt` stamps are still made strictly increasing by
   * the database, across every instance. @defaultValue the system clock
   */
  clock?: Clock;
  /** Options of the event log, as for `AgentEventLog` (`durability` is the server's: see the README). */
  events?: PostgresEventLogOptions;
  /** Options of the run store, as for `AnalysisRunStore`; its `events` is always the log above. */
  runs?: PostgresRunStoreOptions;
};

/** The four stores on one PostgreSQL database, as {@link createPostgresStores} returns them. */
export interface PostgresStores {
  memory: MemoryStore;
  pipeline: PipelineStore;
  events: EventLog;
  /** Wired to `events`: its terminal events and cleanup's `error` events go to that log. */
  runs: RunStore;
  /**
   * Closes the four stores (the run store first, then the others: timers stopped, operations in
   * flight settled, follows ended), then ends the pool when the library opened it; a pool you
   * passed in stays open. Idempotent. Afterwards the stores' methods reject with `StoreClosedError`.
   */
  close(): Promise<void>;
}

/**
 * Opens the four stores on a PostgreSQL database: the same interfaces and behaviour as
 * `createStores()`, shared by every instance that uses the database. Switching is one line:
 *
 * ```ts
 * const stores = createPostgresStores({ connectionString: process.env.DATABASE_URL });
 * ```
 *
 * Nothing is sent to the server until a store is used; the first use applies the library's schema
 * (`migrate()`, under an advisory lock, so several instances may start at once).
 *
 * @throws ValidationError for bad options (both or neither of `pool` and `connectionString`, a
 *   schema name that is not a safe identifier, a store option out of range), before any connection.
 */
export function createPostgresStores(options: CreatePostgresStoresOptions): PostgresStores {
  const {
    clock,
    events: eventOptions,
    runs: runOptions,
    ...connection
  } = options ?? ({} as CreatePostgresStoresOptions);
  const database = new PostgresDatabase(connection as PostgresConnectionOptions);
  const withClock = clock === undefined ? {} : { clock };
  const events = new PostgresEventLog(database, { ...withClock, ...eventOptions });
  const runs = new PostgresRunStore(database, { ...withClock, ...runOptions, events });
  const memory = new PostgresMemoryStore(database, withClock);
  const pipeline = new PostgresFeedbackPipeline(database, withClock);
  return {
    memory,
    pipeline,
    events,
    runs,
    close: () =>
      closeInStages(
        [() => runs.close()],
        [() => events.close(), () => memory.close(), () => pipeline.close()],
        [() => database.close()],
      ),
  };
}
