// A real redis-server for the budget scenarios: Debian's, on a free loopback
// port, without persistence (nothing the bench writes is worth keeping, and a
// background save would compete for the two cores). When redis-server is not
// on PATH the bench installs it with scripts/ensure-test-deps.sh, loudly.
import { setTimeout } from 'node:timers';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';
import { freePorts } from './sidecar-process.js';

const ENSURE_REDIS = fileURLToPath(new URL('../../scripts/ensure-test-deps.sh', import.meta.url));
const LISTEN_TIMEOUT_MS = 10_000;

function redisOnPath() {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

/** Makes sure redis-server exists, running scripts/ensure-test-deps.sh (apt-get, as root) when it does not. */
export function ensureRedis(log) {
  if (redisOnPath()) return;
  log('bench: redis-server not found; running: sh scripts/ensure-test-deps.sh (apt-get install redis-server)');
  const r = spawnSync('sh', [ENSURE_REDIS], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0 || !redisOnPath()) {
    throw new Error('redis-server is missing and scripts/ensure-test-deps.sh did not install it (needs root); the budget redis scenarios cannot run');
  }
}

/** Starts redis-server on a free loopback port; resolves { port, url, stop() }. */
export async function startRedis({ log = () => {} } = {}) {
  ensureRedis(log);
  const [port] = await freePorts(1);
  const server = spawnServer('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
  ]);
  await untilReady(server, waitListening(port), `redis-server on :${port}`);
  return { port, url: `redis://127.0.0.1:${port}`, pid: server.child.pid, stop: () => server.stop() };
}

async function waitListening(port) {
  const until = Date.now() + LISTEN_TIMEOUT_MS;
  while (Date.now() < until) {
    if (await accepts(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server did not listen on :${port} within ${LISTEN_TIMEOUT_MS} ms`);
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Sends one inline command to the redis-server on `port` and resolves its
 * reply as text (a status or a bulk string), for INFO and CONFIG RESETSTAT;
 * rejects after 2 s.
 */
export function redisCommand(port, command) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${command}: no answer within 2 s`));
    }, 2000);
    const done = (value) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      text += chunk;
      if (text.startsWith('+') || text.startsWith('-')) {
        if (text.includes('\r\n')) done(text.slice(1, text.indexOf('\r\n')));
        return;
      }
      const header = /^\$(\d+)\r\n/.exec(text);
      if (header && text.length >= header[0].length + Number(header[1])) done(text.slice(header[0].length, header[0].length + Number(header[1])));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The server's own time per call of one command (INFO commandstats usec_per_call), and its number of calls. */
export async function commandStats(port, name) {
  const info = await redisCommand(port, 'INFO commandstats');
  const m = new RegExp(`^cmdstat_${name}:calls=(\\d+),usec=\\d+,usec_per_call=([\\d.]+)`, 'm').exec(info);
  return m ? { calls: Number(m[1]), usecPerCall: Number(m[2]) } : { calls: 0, usecPerCall: 0 };
}
