// `authz-sidecar serve` as a real child process (dist/ through bin/, so run
// `npm run build` first): started with a config file, ports read from its
// "listening" log line, killed for real (SIGKILL) or stopped (SIGTERM).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { distChildEnv } from './dist-child-env.js';

export interface ServeProcess {
  readonly ports: { readonly http: number; readonly admin: number; readonly grpc: number };
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly exited: Promise<number | null>;
  /** Everything it wrote to stderr. */
  stderr(): string;
  /** Every JSON log line it wrote to stdout so far. */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

const PORT_ENV = {
  AUTHZ__SERVER__GRPC__PORT: '0', AUTHZ__SERVER__HTTP__PORT: '0', AUTHZ__SERVER__ADMIN__PORT: '0',
  AUTHZ__SERVER__GRPC__HOST: '127.0.0.1', AUTHZ__SERVER__HTTP__HOST: '127.0.0.1', AUTHZ__SERVER__ADMIN__HOST: '127.0.0.1',
};

/** A serve child's environment: ours plus free loopback ports, without tap's hooks (dist-child-env.ts). */
export function serveEnv(): NodeJS.ProcessEnv {
  return distChildEnv(PORT_ENV);
}

/** Starts serve; resolves once it listens (not necessarily ready). Rejects with its stderr if it exits first. */
export function startServe(config: string, opts: { uid?: number; gid?: number } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['bin/authz-sidecar.js', 'serve', '--config', config], {
    env: serveEnv(), stdio: ['ignore', 'pipe', 'pipe'], uid: opts.uid, gid: opts.gid,
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; ports?: ServeProcess['ports'] };
        logs.push(entry);
        if (entry.msg === 'authz-sidecar listening' && entry.ports) {
          resolve({
            ports: entry.ports, child, exited, stderr: () => err, logs,
            kill: (signal) => {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              return exited;
            },
          });
        }
      } catch { /* not a log line */ }
    });
    void exited.then((code) => reject(Object.assign(new Error(`serve exited (${code}) before listening: ${err}`), { code, stderr: err })));
  });
}

/** Polls /readyz until it answers 200. */
export async function untilReady(admin: number, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await request(`http://127.0.0.1:${admin}/readyz`);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error('serve never became ready');
    await new Promise((r) => setTimeout(r, 25));
  }
}
