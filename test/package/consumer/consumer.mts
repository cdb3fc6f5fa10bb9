// The ESM side of the node16 check: the same entry points through their `import` conditions.
import { AgentEventLog, type StorageIO } from 'agent-stores';
import { parseLastEventId } from 'agent-stores/sse';
import { nodeIO } from 'agent-stores/testing';

const events = AgentEventLog.inMemory();
const event = await events.append('run-1', { type: 'progress', payload: null });
const io: StorageIO = nodeIO;
export const checked: [number, number | null, StorageIO] = [event.cursor, parseLastEventId('1'), io];
