// A real PostgreSQL for the audit_postgres scenarios: Debian's server binaries,
// a throwaway cluster (initdb) under bench/out on a free loopback port, run as
// the unprivileged `postgres` user when the bench runs as root, with
// fsync off (nothing the bench writes is worth keeping). The Audit Wall
// (config/postgres/audit.sql) is installed and a login made for the sidecar.
import { setTimeout } from 'node:timers';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';
import { freePorts } from './sidecar-process.js';

const WALL_SQL = fileURLToPath(new URL('../../config/postgres/audit.sql', import.meta.url));
const ENSURE = fileURLToPath(new URL('../../scripts/ensure-test-deps.sh', import.meta.url));

function binDir() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const v = readdirSync(root).filter((x) => existsSync(path.join(root, x, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  return v === undefined ? undefined : path.join(root, v, 'bin');
}

function idOf(flag) {
  return Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
}

/** Starts PostgreSQL with the wall installed; resolves { url (the sidecar's login), stop() }. */
export async function startPostgres({ outDir, log = () => {} }) {
  let bin = binDir();
  if (bin === undefined) {
    log('bench: PostgreSQL not found; running: sh scripts/ensure-test-deps.sh (apt-get install postgresql)');
    spawnSync('sh', [ENSURE], { stdio: ['ignore', 'inherit', 'inherit'] });
    bin = binDir();
    if (bin === undefined) throw new Error('PostgreSQL is missing and scripts/ensure-test-deps.sh did not install it; the audit_postgres scenarios cannot run');
  }
  const dir = path.join(outDir, 'postgres');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const as = process.getuid?.() === 0 ? { uid: idOf('-u'), gid: idOf('-g') } : {};
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid);
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync'],
    { encoding: 'utf8', cwd: dir, ...as });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const [port] = await freePorts(1);
  const server = spawnServer(path.join(bin, 'postgres'), ['-D', path.join(dir, 'data'), '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off'], { cwd: dir, ...as });
  await untilReady(server, waitReady(bin, port), `postgres on :${port}`);
  const psql = (sql) => {
    const r = spawnSync(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-X', '-q'],
      { input: sql, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  };
  psql(readFileSync(WALL_SQL, 'utf8'));
  psql('CREATE ROLE authz_sidecar LOGIN IN ROLE authz_audit_writer');
  return { port, url: `postgres://authz_sidecar@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
}

async function waitReady(bin, port) {
  for (let i = 0; i < 200; i++) {
    if (spawnSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]).status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`postgres on :${port} never became ready`);
}
