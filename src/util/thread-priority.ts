// Lowers the scheduling priority of the calling thread only (its Linux nice
// value), for background threads that must not take a core from the thread
// that answers requests: on a sidecar's one or two cores, a batch of audit
// encoding that preempts the decision thread is a latency tail for every
// request queued behind it. Linux gives each thread its own nice value
// (setpriority(PRIO_PROCESS, tid)); elsewhere this is a no-op that says so.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export type PriorityOutcome =
  | { readonly kind: 'lowered'; readonly tid: number; readonly nice: number }
  | { readonly kind: 'skipped'; readonly why: string };

export function lowerThreadPriority(nice: number): PriorityOutcome {
  if (nice === 0) return { kind: 'skipped', why: 'nice 0 asked' };
  if (process.platform !== 'linux') return { kind: 'skipped', why: `per-thread priority is Linux-only (${process.platform})` };
  let tid: number;
  try {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch (err) {
    return { kind: 'skipped', why: `cannot read /proc/thread-self: ${(err as Error).message}` };
  }
  if (!Number.isInteger(tid) || tid <= 0) return { kind: 'skipped', why: 'no thread id in /proc/thread-self' };
  try {
    setPriority(tid, nice);
  } catch (err) {
    return { kind: 'skipped', why: `setpriority(${tid}, ${nice}) failed: ${(err as Error).message}` };
  }
  return { kind: 'lowered', tid, nice };
}
