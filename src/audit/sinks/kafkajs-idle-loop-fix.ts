// A fix for a kafkajs 2.2.4 bug that costs the shipper thread a tenth of a
// core whether it ships or not: every response makes a connection's request
// queue re-check its pending requests, and with nothing pending and no
// broker throttling the re-check is scheduled `throttledUntil - now` ms
// ahead — a negative delay, i.e. 1 ms — and reschedules itself forever: a
// 1 ms timer loop per connection (~1,700 event-loop wake-ups a second here;
// kafkajs issues #1556, #1604, #1704, unmerged fixes #1667, #1768; kafkajs
// has had no release since 2.2.4). Measured: 35-40 ms of CPU a second on
// the shipper thread (bench/RESULTS.md, session 4).
//
// The fix is the one proposed upstream: with nothing pending and no
// throttle in force there is nothing to check, so nothing is scheduled; a
// request queued later schedules its own check (push() does). Applied once
// per thread that loads the Kafka sink, only to the code it was written
// for (the version pinned in package.json and the method's text): another
// kafkajs is left as it is, and test/audit/kafka-idle.test.ts fails.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface RequestQueueLike {
  pending: unknown[];
  throttledUntil: number;
}

const FIXED_VERSION = '2.2.4';
const BUGGY_TEXT = 'let scheduleAt = this.throttledUntil - Date.now()';

let applied: boolean | undefined;

/** Patches kafkajs' RequestQueue when it is the version with the bug; true when the fix is in place. */
export function fixKafkajsIdleLoop(): boolean {
  if (applied !== undefined) return applied;
  applied = false;
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (version !== FIXED_VERSION) return applied;
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: Record<string, unknown> };
  const original = RequestQueue.prototype.scheduleCheckPendingRequests;
  if (typeof original !== 'function' || !original.toString().includes(BUGGY_TEXT)) return applied;
  const schedule = original as (this: RequestQueueLike) => void;
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueLike): void {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    schedule.call(this);
  };
  applied = true;
  return applied;
}
