// Runs the shipper thread for the decision thread: starts it, restarts it
// (with backoff, counted) when it dies, keeps its latest progress for the
// metrics and for retention, and drains it at shutdown. The decision thread
// never waits for it: all it shares with the shipper is the trail on disk.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../observability/logger.js';
import type { RemoteSinkConfigs } from '../config.js';
import type { ShipperProgress } from './shipper.js';
import type { FromShipper, ShipperWorkerData, ToShipper } from './worker.js';

// node runs the compiled .js (dist/); the tests run the .ts sources through
// tsx, whose loader a worker thread must register before loading its entry.
const SOURCE_EXT = extname(fileURLToPath(import.meta.url));
const WORKER_URL = new URL(`./worker${SOURCE_EXT}`, import.meta.url);

function newWorker(workerData: ShipperWorkerData): Worker {
  if (SOURCE_EXT !== '.ts') return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export interface SupervisorEvents {
  /** Progress of every sink (counters are deltas since the last report). */
  onProgress(progress: readonly ShipperProgress[]): void;
  onRestart(): void;
}

export class ShipperSupervisor {
  private worker: Worker | undefined;
  private stopping = false;
  private restartDelay = 100;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly data: ShipperWorkerData,
    private readonly events: SupervisorEvents,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.stopping) return;
    const worker = newWorker(this.data);
    this.worker = worker;
    this.startedAt = Date.now();
    worker.on('message', (msg: FromShipper) => {
      if (msg.type === 'progress') this.events.onProgress(msg.progress);
    });
    worker.on('error', (err) => this.log.error({ err: String(err) }, 'audit shipper thread failed'));
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        resolve();
        if (this.stopping) return;
        this.events.onRestart();
        // A thread that ran a while gets a quick restart; one that dies at once backs off.
        this.restartDelay = Date.now() - this.startedAt > 30_000 ? 100 : Math.min(this.restartDelay * 2, 5000);
        this.log.error({ code, restart_in_ms: this.restartDelay }, 'audit shipper thread exited; restarting it');
        this.restartTimer = setTimeout(() => this.start(), this.restartDelay);
        this.restartTimer.unref();
      });
    });
  }

  /** The running thread (tests end it to check that it comes back). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** Ships what the trail holds until `deadline` (epoch ms), then stops the thread. */
  async drain(deadline: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker === undefined) return;
    const done = this.exited;
    worker.postMessage({ type: 'drain', deadline } satisfies ToShipper);
    const grace = setTimeout(() => void worker.terminate(), Math.max(0, deadline - Date.now()) + 2000);
    grace.unref();
    await done;
    clearTimeout(grace);
  }
}

export type { RemoteSinkConfigs };
