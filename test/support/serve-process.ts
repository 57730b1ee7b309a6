// `authz-sidecar serve` as a real child process on loopback ports chosen by
// the OS: waits for its "listening" log line, keeps its log lines, and is
// SIGKILLed at teardown if a test left it running.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly ports: { grpc?: number; http?: number; admin?: number };
  /** Every JSON log line so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

export async function startServe(t: Test, configFile: string, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['bin/authz-sidecar.js', 'serve', '--config', configFile], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const ports = await new Promise<ServeProcess['ports']>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'authz-sidecar listening') resolve(entry.ports as ServeProcess['ports']);
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
  });
  return { child, ports, logs, exited };
}

/** Polls `probe` until it returns true, at most `ms` (generous: the machine is shared). */
export async function until(probe: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const stop = Date.now() + ms;
  while (Date.now() < stop) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
