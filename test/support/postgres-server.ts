// A real, throwaway PostgreSQL cluster per test file: initdb into a temp dir
// and `postgres` on a free loopback port, run as the unprivileged `postgres`
// user when the test runs as root (PostgreSQL refuses to run as root).
// The superuser is `postgres` (trust auth on loopback, for the test only);
// tests create the INSERT-only role and the sidecar's login from
// config/postgres/audit.sql as a DBA would. Stopped (and its data removed)
// at teardown; `stop()` / `start()` take the database away and back.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailableReason(): string | undefined {
  if (binDir() === undefined) return 'PostgreSQL is not installed (scripts/ensure-test-deps.sh: apt-get install postgresql)';
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root without a postgres user to run the server as';
  return undefined;
}

export interface PostgresServer {
  readonly port: number;
  /** A connection URL for `user` (default: the superuser) to database `db` (default: postgres). */
  url(user?: string, db?: string): string;
  /** Runs SQL as the superuser through psql (ON_ERROR_STOP); returns stdout. */
  psql(sql: string, opts?: { user?: string; db?: string }): string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPostgres(t: Test): Promise<PostgresServer> {
  const bin = binDir();
  if (bin === undefined) throw new Error(postgresUnavailableReason());
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'authz-pg-'));
  const data = join(dir, 'data');
  if (asRoot) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
  // Run as postgres directly (spawn's uid/gid), so signals reach the server itself.
  const as = asRoot ? { uid: uidOf('postgres'), gid: gidOf('postgres') } : {};
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    { encoding: 'utf8', cwd: dir, ...as });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'shared_buffers=16MB', '-c', 'max_connections=40'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...as });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
    const until = Date.now() + 30_000;
    for (;;) {
      const ready = spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { encoding: 'utf8' });
      if (ready.status === 0) return;
      if (child.exitCode !== null) throw new Error(`postgres exited: ${stderr}`);
      if (Date.now() > until) throw new Error(`postgres not ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGINT'); // fast shutdown
    await exited;
  };
  await start();
  t.teardown(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    port,
    url: (user = 'postgres', db = 'postgres') => `postgres://${user}@127.0.0.1:${port}/${db}`,
    psql: (sql, opts = {}) => {
      const r = spawnSync(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', opts.user ?? 'postgres', '-d', opts.db ?? 'postgres',
        '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-t', '-A'], { input: sql, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
      return r.stdout;
    },
    stop,
    start,
  };
}

function uidOf(user: string): number {
  return Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
}
function gidOf(user: string): number {
  return Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
