// The follower of bench/postgres.ts's latency figure: follows run `follow` (after its first event)
// on PostgreSQL or on a file root, and prints when each later event arrived (ms on the shared wall clock), as one JSON array.
// Args: postgres <url> <schema> | files - <root>
import { openFollowStores } from './postgres.js';

const stores = openFollowStores(process.argv.slice(2));
const arrived: number[] = [];
const follow = stores.events.follow('follow', { after: 1 })[Symbol.asyncIterator]();
// The first next() starts the follow (and, on PostgreSQL, its LISTEN) before the writer begins.
const first = follow.next();
await new Promise((resolve) => setTimeout(resolve, 300));
process.stdout.write('ready\n');
for (let step = await first; !step.done; step = await follow.next()) {
  arrived.push(performance.timeOrigin + performance.now());
}
process.stdout.write(`${JSON.stringify(arrived)}\n`);
await stores.close();
