// How fast this host runs the same fixed work right now: the time of a
// small, single-threaded JavaScript workload (string building, JSON, a
// SHA-256, integer arithmetic — the kinds of work a decision does), the best
// of a few tries. On these shared virtual CPUs the same code's CPU time per
// decision moved 2–8× between hours with nothing else running (the host's
// phase, not ours), so every run records this figure next to its results:
// two runs' absolute µs compare only when their host_speed_ms does too.
import { createHash } from 'node:crypto';

const TRIES = 5;

function work() {
  let acc = 0;
  for (let i = 0; i < 2000; i++) {
    const s = JSON.stringify({ id: `user-${i}`, tenant: 'acme', roles: ['viewer', 'editor'], n: i * 7919 });
    const o = JSON.parse(s);
    acc += o.n % 13;
    acc += createHash('sha256').update(s).digest()[0];
  }
  for (let i = 0; i < 2_000_000; i++) acc = (acc * 31 + i) | 0;
  return acc;
}

/** Milliseconds of the fixed workload, best of TRIES (the least disturbed). */
export function hostSpeedMs() {
  work(); // JIT warm-up
  let best = Infinity;
  for (let t = 0; t < TRIES; t++) {
    const start = performance.now();
    work();
    best = Math.min(best, performance.now() - start);
  }
  return Number(best.toFixed(2));
}
