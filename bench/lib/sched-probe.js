// A diagnostic loaded into a bench sidecar with
//   BENCH_SIDECAR_NODE_ARGS="--import ./bench/lib/sched-probe.js" SCHED_PROBE_OUT=/tmp/probe.jsonl
// It answers "was the decision thread running, waiting for a CPU, or idle?"
// when h2load saw a slow request: every 5 ms it reads, from /proc, the CPU time
// and the run-queue wait (time runnable but not running) of the sidecar's main
// thread and of h2load, and every GC pause with its start. Lines go to
// SCHED_PROBE_OUT when the process exits; bench/scripts/read-stalls.js joins
// them with h2load's per-request log (BENCH_KEEP_H2LOG).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const out = process.env.SCHED_PROBE_OUT;
// Worker threads inherit --import: only the decision thread probes.
if (out && isMainThread) {
  const samples = [];
  const gcs = [];
  const mainStat = `/proc/self/task/${process.pid}/schedstat`;
  let h2loadStat;
  let threads = [];

  const read = (path) => {
    try {
      const [cpu, wait] = readFileSync(path, 'latin1').split(' ');
      return [Number(cpu), Number(wait)];
    } catch {
      return undefined;
    }
  };
  // Per CPU of the machine (jiffies): [busy, idle, steal]. Steal is time the
  // hypervisor ran something else on our virtual CPU.
  const readCpus = () => {
    const cpus = [];
    for (const line of readFileSync('/proc/stat', 'latin1').split('\n')) {
      if (!/^cpu\d/.test(line)) continue;
      const f = line.split(' ').slice(1).map(Number);
      cpus.push([f[0] + f[1] + f[2] + f[5] + f[6], f[3] + f[4], f[7]]);
    }
    return cpus;
  };
  const readAll = (paths) => {
    let cpu = 0;
    let wait = 0;
    for (const p of paths) {
      const s = read(p);
      if (s === undefined) return undefined;
      cpu += s[0];
      wait += s[1];
    }
    return [cpu, wait];
  };
  const findH2load = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        // h2load's clients run in its threads: every task of it counts.
        if (readFileSync(`/proc/${pid}/comm`, 'latin1').trim() === 'h2load') {
          return readdirSync(`/proc/${pid}/task`).map((tid) => `/proc/${pid}/task/${tid}/schedstat`);
        }
      } catch { /* gone */ }
    }
    return undefined;
  };
  const listThreads = () => {
    threads = [];
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        threads.push({ tid, name: readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim() });
      } catch { /* the thread ended */ }
    }
  };

  let tick = 0;
  const timer = setInterval(() => {
    const t = performance.timeOrigin + performance.now();
    if (tick % 200 === 0) {
      if (h2loadStat === undefined || readAll(h2loadStat) === undefined) h2loadStat = findH2load();
      listThreads();
    }
    const row = { t, main: read(mainStat), h2load: h2loadStat ? readAll(h2loadStat) : undefined, cpus: readCpus() };
    if (tick % 10 === 0) {
      row.threads = {};
      for (const { tid, name } of threads) {
        const s = read(`/proc/self/task/${tid}/schedstat`);
        if (s) row.threads[`${name}:${tid}`] = s;
      }
    }
    samples.push(row);
    tick++;
  }, 5);
  timer.unref();

  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ t: performance.timeOrigin + e.startTime, ms: e.duration, kind: e.detail?.kind });
  }).observe({ entryTypes: ['gc'] });

  process.on('exit', () => {
    writeFileSync(out, JSON.stringify({ samples, gcs }));
  });
}
