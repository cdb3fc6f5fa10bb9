// ESM consumer: `import` of the root, `./sse`, `./testing` and `./postgres`, from the installed tarball.
import assert from 'node:assert/strict';
import * as root from 'agent-stores';
import { AgentEventLog, StoreError, ValidationError } from 'agent-stores';
import { createPostgresStores } from 'agent-stores/postgres';
import { parseLastEventId, streamRunEvents } from 'agent-stores/sse';
import { nodeEventLogIO, nodeIO, nodeRunFilesIO } from 'agent-stores/testing';

const events = AgentEventLog.inMemory();
const event = await events.append('run-1', { type: 'progress', payload: { step: 1 } });
assert.equal(event.cursor, 1);
await assert.rejects(events.append('../x', { type: 'progress', payload: null }), StoreError);
assert.ok(new ValidationError('x', []) instanceof StoreError);
await events.close();
assert.equal(parseLastEventId('7'), 7);
assert.equal(typeof streamRunEvents, 'function');
for (const seam of [nodeIO, nodeEventLogIO, nodeRunFilesIO]) assert.equal(typeof seam, 'object');
for (const name of ['nodeIO', 'nodeEventLogIO', 'nodeRunFilesIO']) assert.ok(!(name in root), `${name} on the root`);
// agent-stores/postgres without pg installed (an optional peer): bad options are refused at once,
// with the root's error classes; the first use says how to install the driver.
assert.throws(() => createPostgresStores({}), ValidationError);
const pgStores = createPostgresStores({ connectionString: 'postgres://localhost/none' });
await assert.rejects(
  pgStores.memory.list(),
  (error) => error instanceof StoreError && /npm install pg/.test(error.message),
);
await pgStores.close();
console.log('esm: ok');
