// Joins h2load's per-request log (BENCH_KEEP_H2LOG) with the sidecar's
// sched-probe samples (bench/lib/sched-probe.js) and says, for the ~5 ms
// windows in which requests were slow and for all the others, how long the
// sidecar's decision thread ran, how long it waited for a CPU, how long h2load
// waited for one, and how much of it was GC.
//   node bench/scripts/read-stalls.js /tmp/h2load.log /tmp/probe.json [slow-ms=1.5]
import { readFileSync } from 'node:fs';

const [logFile, probeFile, slowArg] = process.argv.slice(2);
const slowUs = Number(slowArg ?? 1.5) * 1000;
const { samples, gcs } = JSON.parse(readFileSync(probeFile, 'utf8'));
const requests = readFileSync(logFile, 'latin1').trim().split('\n').map((l) => l.split('\t').map(Number));

// Windows between consecutive samples, in ms since the epoch, with deltas in µs.
const windows = [];
for (let i = 1; i < samples.length; i++) {
  const a = samples[i - 1];
  const b = samples[i];
  if (!a.main || !b.main) continue;
  windows.push({
    from: a.t, to: b.t,
    mainCpu: (b.main[0] - a.main[0]) / 1e3, mainWait: (b.main[1] - a.main[1]) / 1e3,
    h2Wait: a.h2load && b.h2load ? (b.h2load[1] - a.h2load[1]) / 1e3 : 0,
    h2Cpu: a.h2load && b.h2load ? (b.h2load[0] - a.h2load[0]) / 1e3 : 0,
    gc: 0, slow: 0, all: 0,
    wall: (b.t - a.t) * 1000,
    // Jiffies (10 ms) are coarse for a 5 ms window; their means over many windows are not.
    idleCpus: a.cpus && b.cpus ? b.cpus.reduce((s, c, i) => s + (c[1] - a.cpus[i][1]), 0) * 10000 : 0,
    steal: a.cpus && b.cpus ? b.cpus.reduce((s, c, i) => s + (c[2] - a.cpus[i][2]), 0) * 10000 : 0,
  });
}
const first = windows[0]?.from ?? 0;
const find = (tMs) => {
  let lo = 0, hi = windows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (windows[mid].to < tMs) lo = mid + 1; else if (windows[mid].from > tMs) hi = mid - 1; else return mid;
  }
  return -1;
};
// Neither running nor waiting for a CPU: asleep — in epoll (nothing to do) or blocked in the kernel.
for (const w of windows) w.asleep = Math.max(0, w.wall - w.mainCpu - w.mainWait);
for (const g of gcs) {
  const w = find(g.t);
  if (w >= 0) windows[w].gc += g.ms * 1000;
}
for (const [startUs, , durUs] of requests) {
  // A request is charged to the window in which it ended: where the delay showed.
  const w = find((startUs + durUs) / 1000);
  if (w < 0) continue;
  windows[w].all++;
  if (durUs > slowUs) windows[w].slow++;
}
const used = windows.filter((w) => w.all > 0 && w.from > first + 1000);
const mean = (ws, k) => (ws.length === 0 ? 0 : ws.reduce((s, w) => s + w[k], 0) / ws.length);
const row = (label, ws) =>
  `${label.padEnd(22)}${String(ws.length).padStart(7)}${['wall', 'mainCpu', 'mainWait', 'asleep', 'gc', 'h2Cpu', 'h2Wait', 'idleCpus', 'steal'].map((k) => mean(ws, k).toFixed(0).padStart(10)).join('')}`;
console.log(`${'5 ms windows'.padEnd(22)}${'n'.padStart(7)}${['wall', 'main cpu', 'main wait', 'asleep', 'gc', 'h2 cpu', 'h2 wait', 'idle cpus', 'steal'].map((s) => s.padStart(10)).join('')}   (µs per window)`);
console.log(row('with a slow request', used.filter((w) => w.slow > 0)));
console.log(row('without', used.filter((w) => w.slow === 0)));
const slowCount = requests.filter((r) => r[2] > slowUs).length;
console.log(`slow (> ${slowUs / 1000} ms): ${slowCount} of ${requests.length} requests`);
// The slow windows themselves, worst first, so a pattern can be read.
const worst = used.filter((w) => w.slow > 0).sort((a, b) => b.slow - a.slow).slice(0, 12);
for (const w of worst) {
  console.log(`  t+${((w.from - first) / 1000).toFixed(3)}s slow ${w.slow}/${w.all} wall ${w.wall.toFixed(0)} main cpu ${w.mainCpu.toFixed(0)} wait ${w.mainWait.toFixed(0)} asleep ${w.asleep.toFixed(0)} gc ${w.gc.toFixed(0)} h2 cpu ${w.h2Cpu.toFixed(0)} wait ${w.h2Wait.toFixed(0)}`);
}
