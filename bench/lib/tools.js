// The load generators the bench drives: h2load (nghttp2) for gRPC over HTTP/2
// and wrk for HTTP/1.1. Both are native, so the generator is not the Node
// process being measured; when they are missing we install the Debian
// packages, loudly, because a silent apt-get is a surprise nobody wants.
import { clearTimeout, setTimeout } from 'node:timers';
import { spawn, spawnSync } from 'node:child_process';

const TOOLS = [
  { command: 'h2load', pkg: 'nghttp2-client' },
  { command: 'wrk', pkg: 'wrk' },
];

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Makes sure h2load and wrk exist; installs the missing ones with apt-get (needs root). */
export function ensureTools(log = (line) => process.stderr.write(`${line}\n`)) {
  const missing = TOOLS.filter((t) => !onPath(t.command));
  if (missing.length === 0) return;
  const pkgs = missing.map((t) => t.pkg);
  log(`bench: ${missing.map((t) => t.command).join(', ')} not found; running: apt-get update && apt-get install -y ${pkgs.join(' ')}`);
  const run = (args) => {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal}); install ${pkgs.join(' ')} yourself`);
    }
  };
  run(['update']);
  run(['install', '-y', ...pkgs]);
  const still = missing.filter((t) => !onPath(t.command));
  if (still.length > 0) throw new Error(`still missing after install: ${still.map((t) => t.command).join(', ')}`);
}

/**
 * Runs a command to completion and returns its output. A load generator that
 * outlives its duration by `graceMs` is killed: the bench must stop by itself.
 */
export function runTool(command, args, { timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}\n${stderr || stdout}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}
