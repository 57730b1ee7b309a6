// A diagnostic loaded into a bench server (sidecar or no-op) with
//   BENCH_SIDECAR_NODE_ARGS="--import ./bench/lib/loop-probe.js" BENCH_NOOP_NODE_ARGS="--import ./bench/lib/loop-probe.js" \
//   LOOP_PROBE_OUT=/tmp/loop.jsonl node bench/run.js --only <one scenario> --no-baseline
// When the process exits it appends one line: what its main thread did per HTTP/2 stream between the
// 2000th stream and the last (read every 250 streams, so warm-up is mostly left out): CPU and run-queue
// wait (schedstat), voluntary / involuntary context switches, read and write syscalls (/proc task io:
// the main thread's own, files and sockets alike) and streams per event-loop iteration (a setImmediate
// armed by the first stream of an iteration). One process per line: run one scenario per target.
import http2 from 'node:http2';
import { readFileSync, writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
const out = process.env.LOOP_PROBE_OUT;
if (out && isMainThread) {
  const T = `/proc/self/task/${process.pid}`;
  const snap = () => {
    const st = readFileSync(`${T}/status`, 'latin1');
    const io = readFileSync(`${T}/io`, 'latin1');
    const [cpu, wait, slices] = readFileSync(`${T}/schedstat`, 'latin1').trim().split(' ').map(Number);
    const g = (s, k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]);
    return { t: performance.now(), streams, iterations, cpu_us: cpu / 1000, wait_us: wait / 1000, slices,
      vol: g(st, 'voluntary_ctxt_switches'), invol: g(st, 'nonvoluntary_ctxt_switches'), syscr: g(io, 'syscr'), syscw: g(io, 'syscw') };
  };
  let streams = 0, iterations = 0, pending = false, first, last;
  const reset = () => { pending = false; };
  const onStream = () => {
    streams++;
    if (!pending) { pending = true; iterations++; setImmediate(reset); }
    if (streams === 2000) first = snap();
    else if (streams > 2000 && streams % 250 === 0) last = snap();
  };
  const orig = http2.createServer;
  http2.createServer = function (...args) { const s = orig.apply(this, args); s.prependListener('stream', onStream); return s; };
  process.on('exit', () => {
    if (!first || !last) return;
    const n = last.streams - first.streams;
    const d = (k) => +((last[k] - first[k]) / n).toFixed(3);
    writeFileSync(out, JSON.stringify({ streams: n, rps: +(n / (last.t - first.t) * 1000).toFixed(0), cpu_us: d('cpu_us'), runq_wait_us: d('wait_us'),
      timeslices: d('slices'), voluntary_cs: d('vol'), involuntary_cs: d('invol'), read_syscalls: d('syscr'), write_syscalls: d('syscw'),
      streams_per_iteration: +(n / (last.iterations - first.iterations)).toFixed(2) }) + '\n', { flag: 'a' });
  });
}
