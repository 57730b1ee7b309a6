// A caught-up shipper sends what the trail gains while its oldest unsent
// event waits (up to batch.max_wait_ms) as one batch instead of one small
// batch per read; a full batch, a drain and a stop are never held.
import t, { type Test } from 'tap';
import { eventJson } from '../../src/audit/event.js';
import type { RemoteSink, TrailRecord } from '../../src/audit/shipping/remote-sink.js';
import { Shipper } from '../../src/audit/shipping/shipper.js';
import { TrailWriter } from '../../src/audit/trail/trail-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { decision, request, until } from './fixtures/helpers.js';

/** The remote end, in memory: the batches as delivered. */
class RecordingSink implements RemoteSink {
  readonly name = 'recording';
  readonly batches: string[][] = [];
  deliver(batch: readonly TrailRecord[]): Promise<void> {
    this.batches.push(batch.map((r) => r.head.decision_id));
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const log = createLogger('silent');
const LONG_MS = 60_000; // far past any bound the test waits for: a batch it waits on is held by the shipper, not by time

async function setup(t: Test, batchMax: number) {
  const dir = t.testdir({});
  const w = await TrailWriter.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, segmentBytes: 1 << 30, maxBytes: 2 ** 40, log });
  const sink = new RecordingSink();
  const shipper = new Shipper(sink, { dir, batchMax, pollMs: LONG_MS, backoffMinMs: 10, backoffMaxMs: 10 }, log);
  const append = (id: string): void => {
    if (!w.append(eventJson(decision({ id }), request()))) throw new Error('append failed');
  };
  t.teardown(async () => {
    await shipper.stop();
    await w.close();
  });
  return { sink, shipper, append };
}

t.test('events appended while the oldest unsent one waits go in its batch', async (t) => {
  const { sink, shipper, append } = await setup(t, 100);
  append('d-1');
  const running = shipper.start();
  // The shipper has read d-1 (it is pending) and holds it for more.
  await until(() => shipper.takeProgress().oldestPendingAt !== null, 'd-1 read');
  append('d-2');
  append('d-3');
  t.same(sink.batches, [], 'nothing sent while the batch waits');
  await shipper.drain(Date.now() + 10_000); // ends the wait at once
  await running;
  t.same(sink.batches, [['d-1', 'd-2', 'd-3']], 'one batch');
});

t.test('a full batch is sent at once', async (t) => {
  const { sink, shipper, append } = await setup(t, 2);
  append('d-1');
  append('d-2');
  append('d-3');
  void shipper.start();
  await until(() => sink.batches.length >= 1, 'the first batch, long before max_wait_ms');
  t.same(sink.batches[0], ['d-1', 'd-2']);
});

t.test('stopping ends the wait and leaves the batch in the trail for the next start', async (t) => {
  const { sink, shipper, append } = await setup(t, 100);
  append('d-1');
  const running = shipper.start();
  await until(() => shipper.takeProgress().oldestPendingAt !== null, 'd-1 read');
  await shipper.stop();
  await running;
  t.same(sink.batches, [], 'not sent: the checkpoint never passed it, so the next start sends it (at least once)');
});
