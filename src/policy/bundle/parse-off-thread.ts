// Runs prepare.ts on a worker thread, so unpacking, verifying and parsing a
// bundle never blocks the decision thread. The worker's heap is capped at
// `parse_memory_mb`: a bundle whose data would need more ends that thread
// (refused, counted as `parse_memory`), never the process. A parse that runs
// past `parse_timeout_ms` is terminated with its thread. One worker serves a
// process (per memory cap), one job at a time, and is started on demand and
// ended after IDLE_MS without work: starting one costs a few hundred
// milliseconds, which a bundle load can afford once but not every time.
import { Worker } from 'node:worker_threads';
import { BundleLimitError, type BundleLimit } from './data-limits.js';
import type { ParseJob, PreparedBundle } from './prepare.js';

export interface OffThreadLimits {
  readonly memoryMb: number;
  readonly timeoutMs: number;
}

const IDLE_MS = 60_000;

type Reply = { id: number } & ({ ok: PreparedBundle } | { error: { message: string; limit: BundleLimit | undefined } });

interface Pending {
  readonly id: number;
  readonly job: ParseJob;
  readonly timeoutMs: number;
  resolve(p: PreparedBundle): void;
  reject(e: Error): void;
}

class ParseWorker {
  private worker: Worker | undefined;
  private readonly queue: Pending[] = [];
  private current: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private idle: NodeJS.Timeout | undefined;
  private nextId = 1;

  constructor(private readonly memoryMb: number) {}

  run(job: ParseJob, timeoutMs: number): Promise<PreparedBundle> {
    return new Promise<PreparedBundle>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, timeoutMs, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.current !== undefined) return;
    const next = this.queue.shift();
    if (next === undefined) {
      // Idle, the worker never keeps the process alive; a job in flight does (someone awaits its answer).
      this.worker?.unref();
      this.idle = setTimeout(() => this.stop(), IDLE_MS);
      this.idle.unref();
      return;
    }
    if (this.idle) clearTimeout(this.idle);
    this.current = next;
    const worker = this.worker ?? this.start();
    worker.ref();
    this.timer = setTimeout(() => {
      this.finish(next.id, new BundleLimitError('parse_timeout', `parsing the bundle took longer than parse_timeout_ms (${next.timeoutMs} ms)`));
      this.stop();
    }, next.timeoutMs);
    this.timer.unref();
    worker.postMessage({ id: next.id, job: next.job });
  }

  private start(): Worker {
    const worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.memoryMb, maxYoungGenerationSizeMb: Math.min(32, this.memoryMb) },
    });
    worker.on('message', (reply: Reply) => {
      if ('ok' in reply) this.finish(reply.id, reply.ok);
      else this.finish(reply.id, reply.error.limit === undefined ? new Error(reply.error.message) : new BundleLimitError(reply.error.limit, reply.error.message));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (this.worker === worker) this.worker = undefined;
      const id = this.current?.id;
      if (id !== undefined) {
        this.finish(id, err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new BundleLimitError('parse_memory', `parsing the bundle needed more than parse_memory_mb (${this.memoryMb} MiB)`)
          : new Error(`bundle parse worker failed: ${err.message}`, { cause: err }));
      }
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      const id = this.current?.id;
      if (id !== undefined) this.finish(id, new Error(`bundle parse worker exited (${code}) without an answer`));
    });
    this.worker = worker;
    return worker;
  }

  private finish(id: number, result: PreparedBundle | Error): void {
    const job = this.current;
    if (job === undefined || job.id !== id) return;
    this.current = undefined;
    clearTimeout(this.timer);
    if (result instanceof Error) job.reject(result);
    else job.resolve(result);
    this.pump();
  }

  private stop(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
  }
}

const workers = new Map<number, ParseWorker>();

export function prepareOffThread(job: ParseJob, limits: OffThreadLimits): Promise<PreparedBundle> {
  let worker = workers.get(limits.memoryMb);
  if (worker === undefined) {
    worker = new ParseWorker(limits.memoryMb);
    workers.set(limits.memoryMb, worker);
  }
  return worker.run(job, limits.timeoutMs);
}
