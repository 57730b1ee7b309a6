// A server's own CPU time, from /proc/<pid>/stat (utime + stime, every thread
// of the process) and /proc/<pid>/task/<pid>/stat (the main thread alone: the
// event loop that answers decisions). On a machine shared with the load
// generator and other people's work, CPU per decision is steadier than rps:
// it does not depend on how much CPU the server happened to get.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let ticksPerSecond;

/** sysconf(_SC_CLK_TCK): the unit of utime/stime (100 on Linux, almost always). */
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of a stat line, in µs. Fields after the `(comm)` (which may hold spaces): state is 3rd, utime 14th. */
function statCpuUs(file) {
  const text = readFileSync(file, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks();
}

/** { process_us, main_thread_us } of a live pid, or undefined when /proc cannot say (not Linux, process gone). */
export function readProcessCpu(pid) {
  if (!pid) return undefined;
  try {
    return { process_us: statCpuUs(`/proc/${pid}/stat`), main_thread_us: statCpuUs(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of each thread of a live pid, in µs, by thread id (every
 * Node thread is called `node`: the main thread's id is the pid; the worker
 * threads, libuv's pool and V8's helpers are told apart by what they use).
 */
export function readThreadsCpu(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), statCpuUs(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * CPU µs per request between two readProcessCpu() samples. The resolution is
 * one clock tick (10 ms) per sample, i.e. < 0.5 % over a scenario of several
 * seconds at a few thousand requests per second.
 */
export function cpuPerRequest(before, after, requests) {
  if (!before || !after || !(requests > 0)) return {};
  const per = (k) => Number(((after[k] - before[k]) / requests).toFixed(1));
  return { cpu_us_per_decision: per('process_us'), main_thread_cpu_us_per_decision: per('main_thread_us') };
}

/** µs of CPU used so far by `pid` (all threads), or undefined where /proc is not available. */
export function processCpuUs(pid) {
  return readProcessCpu(pid)?.process_us;
}

/** Starts a measurement of the given processes; `stop()` returns µs used by each since. */
export function cpuMeter(pids) {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuUs(pid)]));
  const startedAt = performance.now();
  return {
    stop() {
      const wallS = (performance.now() - startedAt) / 1000;
      const used = {};
      for (const [k, pid] of Object.entries(pids)) {
        const a = processCpuUs(pid);
        used[k] = a === undefined || before[k] === undefined ? undefined : a - before[k];
      }
      return { used, wallS };
    },
  };
}

/**
 * Forgets a process's peak resident set (Linux: `5` into /proc/<pid>/clear_refs),
 * so that the next peakRssMb() is the peak of what follows. False where it cannot.
 */
export function resetPeakRss(pid) {
  if (!pid) return false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak resident set (VmHWM) of a live pid in MiB, since start or the last resetPeakRss(); undefined where /proc cannot say. */
export function peakRssMb(pid) {
  if (!pid) return undefined;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
