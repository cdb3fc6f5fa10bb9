// CommonJS consumer: `require` of the root, `./sse`, `./testing` and `./postgres`, from the installed tarball.
const assert = require('node:assert/strict');
const root = require('agent-stores');
const { AgentEventLog, StoreError, createStores } = root;
const { parseLastEventId, streamRunEvents } = require('agent-stores/sse');
const { nodeIO } = require('agent-stores/testing');
const { createPostgresStores } = require('agent-stores/postgres');

(async () => {
  const events = AgentEventLog.inMemory();
  const event = await events.append('run-1', { type: 'progress', payload: { step: 1 } });
  assert.equal(event.cursor, 1);
  await assert.rejects(events.append('../x', { type: 'progress', payload: null }), StoreError);
  await events.close();
  assert.equal(typeof createStores, 'function');
  assert.equal(parseLastEventId('7'), 7);
  assert.equal(typeof streamRunEvents, 'function');
  assert.equal(typeof nodeIO.writeAtomic, 'function');
  assert.ok(!('nodeIO' in root), 'nodeIO on the root');
  // agent-stores/postgres without pg installed: the root's error classes, and the install hint.
  assert.throws(() => createPostgresStores({}), root.ValidationError);
  const pgStores = createPostgresStores({ connectionString: 'postgres://localhost/none' });
  await assert.rejects(
    pgStores.memory.list(),
    (error) => error instanceof root.StoreError && /npm install pg/.test(error.message),
  );
  await pgStores.close();
  console.log('cjs: ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
