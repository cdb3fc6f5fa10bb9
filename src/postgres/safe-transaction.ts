import type { PoolClient } from 'pg';
import type { PostgresDatabase } from './database.js';

const ignore = () => {};

/**
 * `db.transaction(what, work)`, with an `error` listener on the borrowed client while it is out.
 * A pool client whose server goes away mid-transaction (killed, restarted) emits `error` besides
 * failing its query; the pool only listens while the client is idle, and an unheard `error` event
 * ends the process. The failed query still rejects, and `transaction` maps it (`StoreIOError`).
 */
export async function safeTransaction<T>(
  db: PostgresDatabase,
  what: string,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  let borrowed: PoolClient | undefined;
  try {
    return await db.transaction(what, (client) => {
      borrowed = client;
      client.on('error', ignore);
      return work(client);
    });
  } finally {
    borrowed?.off('error', ignore);
  }
}
