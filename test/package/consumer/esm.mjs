// ESM consumer: `import` of the root, `./sse` and `./testing`, from the installed tarball.
import assert from 'node:assert/strict';
import * as root from 'agent-stores';
import { AgentEventLog, StoreError, ValidationError } from 'agent-stores';
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
console.log('esm: ok');
