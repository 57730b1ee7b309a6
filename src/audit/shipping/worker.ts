// The shipper thread's entry: builds the remote sinks from their config,
// ships the trail to each, and reports progress to the decision thread
// every PROGRESS_MS when there is news. Batching, encoding, compression and the Kafka producer
// all run here, never on the thread that answers Envoy.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../observability/logger.js';
import { lowerThreadPriority } from '../../util/thread-priority.js';
import type { RemoteSinkConfigs } from '../config.js';
import { createRemoteSinks } from './remote-sinks.js';
import { Shipper, type ShipperOptions, type ShipperProgress } from './shipper.js';

export interface ShipperWorkerData {
  readonly sinks: RemoteSinkConfigs;
  readonly options: ShipperOptions;
  readonly logLevel: string;
  /** Linux nice value of the shipper thread (0: the decision thread's own). */
  readonly nice: number;
}

export type ToShipper = { readonly type: 'drain'; readonly deadline: number };
export type FromShipper =
  | { readonly type: 'progress'; readonly progress: ShipperProgress[] }
  | { readonly type: 'drained' };

// Each report wakes the decision thread's event loop (when idle, ~85 µs of its CPU on this
// machine; bench/RESULTS.md, session 5): twice a second is fresh enough for metrics scraped
// every few seconds and for retention, and an idle shipper sends nothing new.
const PROGRESS_MS = 500;

/** True when `p` tells the decision thread nothing `before` did not (same position, nothing counted). */
function unchanged(p: ShipperProgress, before: ShipperProgress | undefined): boolean {
  return before !== undefined && p.delivered === 0 && p.errors === 0 && p.quarantined === 0 && p.checkpointResets === 0
    && p.batchSeconds.length === 0 && p.connected === before.connected && p.oldestPendingAt === before.oldestPendingAt
    && p.position.file === before.position.file && p.position.offset === before.position.offset;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('the audit shipper runs as a worker thread');
  const data = workerData as ShipperWorkerData;
  const log = createLogger(data.logLevel as Parameters<typeof createLogger>[0]).child({ room: 'audit', thread: 'shipper' });
  // Shipping is background work: the decision thread gets the core first (audit.shipper_nice).
  const priority = lowerThreadPriority(data.nice);
  if (priority.kind === 'skipped' && data.nice !== 0) log.info({ why: priority.why }, 'audit shipper: thread priority left as is');
  const sinks = await createRemoteSinks(data.sinks, { log, dir: data.options.dir });
  const shippers = sinks.map((sink) => new Shipper(sink, data.options, log));
  let last: ShipperProgress[] = [];
  const report = (force = false): void => {
    const progress = shippers.map((s) => s.takeProgress());
    if (!force && progress.every((p, i) => unchanged(p, last[i]))) return;
    last = progress;
    port.postMessage({ type: 'progress', progress } satisfies FromShipper);
  };
  const timer = setInterval(report, PROGRESS_MS);
  for (const s of shippers) void s.start();
  report(true);
  port.on('message', (msg: ToShipper) => {
    if (msg.type !== 'drain') return;
    void (async () => {
      await Promise.all(shippers.map((s) => s.drain(msg.deadline)));
      await Promise.all(shippers.map((s) => s.stop()));
      report(true);
      await Promise.allSettled(sinks.map((s) => s.close()));
      clearInterval(timer);
      port.postMessage({ type: 'drained' } satisfies FromShipper);
      port.close();
      // Whatever a sink library left behind (sockets, timers) must not keep the thread alive.
      setTimeout(() => process.exit(0), 500).unref();
    })();
  });
}

main().catch((err: unknown) => {
  // An uncaught failure ends the thread; the supervisor restarts it and counts the restart.
  throw err;
});
