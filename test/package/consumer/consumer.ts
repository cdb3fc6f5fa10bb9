// Type-checked as a strict consumer under moduleResolution node16, bundler and node (node10):
// see tsconfig.*.json. Never run; esm.mjs and cjs.cjs run the same imports.
import { type AgentEvent, AgentEventLog, createStores, type StorageIO, StoreError, type Stores } from 'agent-stores';
import { parseLastEventId, type StreamRunEventsOptions, streamRunEvents } from 'agent-stores/sse';
import { type EventLogIO, nodeEventLogIO, nodeIO, nodeRunFilesIO, type RunFilesIO } from 'agent-stores/testing';

export async function main(root: string): Promise<number> {
  const events = AgentEventLog.inMemory();
  const event: AgentEvent = await events.append('run-1', { type: 'progress', payload: { step: 1 } });
  const cursor: number | null = parseLastEventId('7');
  const diskFull: StorageIO = {
    ...nodeIO,
    writeAtomic: async () => {
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    },
  };
  const logIO: EventLogIO = nodeEventLogIO;
  const files: RunFilesIO = nodeRunFilesIO;
  const stores: Stores = await createStores({ root });
  const options: Pick<StreamRunEventsOptions, 'runId'> = { runId: event.runId };
  try {
    await stores.memory.stats();
  } catch (error) {
    if (error instanceof StoreError) return error.code.length;
  } finally {
    await stores.close();
  }
  // @ts-expect-error a cursor is a number, not a string
  const wrong: string = event.cursor;
  return [cursor, diskFull, logIO, files, options, streamRunEvents, wrong].length;
}
