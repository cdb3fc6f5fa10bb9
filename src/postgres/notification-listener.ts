import { createHash } from 'node:crypto';
import type { Notification, PoolClient } from 'pg';
import type { PostgresDatabase } from './database.js';
import { quoteIdent } from './identifiers.js';

/** What a {@link NotificationListener} tells its owner. */
export interface NotificationHandlers {
  /** A notification on the channel (its payload). */
  notification(payload: string): void;
  /**
   * The connection was lost, or is listening again after a loss: notifications sent in between
   * are gone, so whatever they would have said must be looked up.
   */
  resync(): void;
}

/** Options of {@link NotificationListener}. */
export interface NotificationListenerOptions {
  /** How long the connection is kept after the last user let go, for the next one. */
  lingerMs: number;
  /** The longest wait between two attempts to listen again after the connection was lost. */
  maxRetryMs: number;
}

/**
 * A channel name for `LISTEN`/`pg_notify` of at most 63 bytes (PostgreSQL's identifier limit):
 * `<schema>.<topic>`, or a shortened schema name with a hash of the full one when that is too long.
 */
export function channelName(schema: string, topic: string): string {
  const name = `${schema}.${topic}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(schema).digest('hex').slice(0, 8);
  return `${schema.slice(0, 62 - topic.length - 10)}_${hash}.${topic}`;
}

/**
 * One connection that `LISTEN`s on a channel, shared by every user in this instance: opened by the
 * first {@link acquire}, listened again (with backoff) when the server drops it while someone
 * uses it, and handed back to the pool a little after the last user let go.
 */
export class NotificationListener {
  readonly #db: PostgresDatabase;
  readonly #channel: string;
  readonly #handlers: NotificationHandlers;
  readonly #options: NotificationListenerOptions;
  #client: PoolClient | undefined;
  /** What the client's `error` and `end` events call, to take off again before it goes back to the pool. */
  #onLost: ((error?: unknown) => void) | undefined;
  /** The attempt to connect and listen in progress. */
  #connecting: Promise<void> | undefined;
  #users = 0;
  #linger: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = 0;
  #closed = false;

  constructor(
    db: PostgresDatabase,
    channel: string,
    handlers: NotificationHandlers,
    options: NotificationListenerOptions,
  ) {
    this.#db = db;
    this.#channel = channel;
    this.#handlers = handlers;
    this.#options = options;
  }

  /** True while the connection listens. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /**
   * Counts a user in and resolves once the channel is listened to, so that every notification
   * sent after that reaches {@link NotificationHandlers.notification}. Call {@link release} once
   * done, also when this rejects.
   *
   * @throws StoreIOError when the connection cannot be made.
   */
  async acquire(): Promise<void> {
    this.#users++;
    clearTimeout(this.#linger);
    this.#linger = undefined;
    if (this.#client) return;
    // While the loss of a connection is being retried, users rely on polling rather than wait.
    if (this.#retry) return;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    await this.#connecting;
  }

  /** A user let go; the connection goes back to the pool `lingerMs` after the last one. */
  release(): void {
    this.#users--;
    if (this.#users > 0 || this.#closed) return;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#users === 0) void this.#hangUp();
    }, this.#options.lingerMs);
    this.#linger.unref();
  }

  async #connect(): Promise<void> {
    const client = await this.#db.connect(`listening on channel '${this.#channel}'`);
    const lost = (error?: unknown) => this.#lost(client, error);
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message: Notification) => {
      if (message.channel === this.#channel) this.#handlers.notification(message.payload ?? '');
    });
    try {
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
    } catch (error) {
      this.#detach(client, lost);
      client.release(error instanceof Error ? error : true);
      throw error;
    }
    if (this.#closed) {
      this.#detach(client, lost);
      client.release(true);
      return;
    }
    this.#client = client;
    this.#onLost = lost;
    this.#retryMs = 0;
  }

  /** The server dropped the connection: forget it, tell the owner, and listen again if anyone uses it. */
  #lost(client: PoolClient, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    // Keep a listener for 'error': a broken client may emit more than one, and an unheard one throws.
    client.removeAllListeners('notification');
    client.release(error instanceof Error ? error : true);
    this.#handlers.resync();
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#users === 0 || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed || this.#users === 0 || this.#client) return;
      this.#connecting ??= this.#connect().finally(() => {
        this.#connecting = undefined;
      });
      this.#connecting.then(
        // Whatever was sent while nobody listened must be looked up.
        () => this.#handlers.resync(),
        () => this.#scheduleRetry(),
      );
    }, this.#retryMs);
    this.#retryMs = Math.min(Math.max(this.#retryMs * 2, 50), this.#options.maxRetryMs);
  }

  /** Stops listening and gives the connection back to the pool. */
  async #hangUp(): Promise<void> {
    const client = this.#client;
    const lost = this.#onLost;
    if (!client || !lost) return;
    this.#client = undefined;
    this.#onLost = undefined;
    client.removeAllListeners('notification');
    try {
      // A pooled connection must not keep listening for its next borrower.
      await client.query('UNLISTEN *');
      this.#detach(client, lost);
      client.release();
    } catch (error) {
      client.release(error instanceof Error ? error : true);
    }
  }

  #detach(client: PoolClient, lost: (error?: unknown) => void): void {
    client.removeAllListeners('notification');
    client.off('error', lost);
    client.off('end', lost);
  }

  /** Lets go of the connection and stops retrying. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#linger);
    clearTimeout(this.#retry);
    this.#linger = this.#retry = undefined;
    await this.#connecting?.catch(() => {});
    await this.#hangUp();
  }
}
