// CPU time a process has used (user + system), from /proc/<pid>/stat, in
// microseconds. Read before and after a scenario, the difference over the
// decisions it made is "CPU µs per decision" — the figure that survives a
// shared machine, where rps moves with everyone else's load.
import { readFileSync } from 'node:fs';

/** Clock ticks per second (USER_HZ); 100 on every Linux this runs on. */
const TICKS_PER_S = 100;

/** µs of CPU used so far by `pid`, or undefined where /proc is not available. */
export function processCpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1e6) / TICKS_PER_S;
  } catch {
    return undefined;
  }
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
