// Servers under test run as separate processes so that a server and the load
// generator never share an event loop, and each can be stopped cleanly.
import { clearTimeout, setTimeout } from 'node:timers';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const STOP_GRACE_MS = 5000;

/**
 * Spawns a child and keeps the tail of its stderr for error messages.
 * Returns { child, exited: Promise<{code, signal}>, stderrTail(), stop() }.
 */
export function spawnServer(command, args, { env, cwd, onStdoutLine, uid, gid } = {}) {
  const child = spawn(command, args, { cwd, uid, gid, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    tail = (tail + d).slice(-4000);
  });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      // Diagnostics (bench/README.md): a sidecar's stdout (e.g. --trace-gc lines) into a file.
      if (process.env.BENCH_SIDECAR_STDOUT && args.includes('serve')) appendFileSync(process.env.BENCH_SIDECAR_STDOUT, line + '\n');
      if (onStdoutLine) onStdoutLine(line);
      else tail = (tail + line + '\n').slice(-4000);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stopping;
  return {
    child,
    exited,
    stderrTail: () => tail,
    /** SIGTERM, then SIGKILL if it has not exited after a grace period. */
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        const result = await exited;
        clearTimeout(timer);
        return result;
      })();
      return stopping;
    },
  };
}

/** Rejects with the child's stderr if it exits before `ready` settles. */
export async function untilReady(server, ready, what) {
  const died = server.exited.then(({ code, signal }) => {
    throw new Error(`${what} exited (${code ?? signal}) before it was ready:\n${server.stderrTail()}`);
  });
  try {
    return await Promise.race([ready, died]);
  } catch (err) {
    await server.stop();
    throw err;
  }
}
