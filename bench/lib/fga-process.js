// An OpenFGA-compatible server for the remote-mode rebac scenarios:
// `node bin/authz-sidecar.js fga serve` in its own process on a free loopback
// port, serving the bench model and tuples, optionally with added latency.
// It is considered started once it prints its JSON line
// ({"fga_api": "http://127.0.0.1:N", "store_id": "01H..."}) on stdout.
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';
import { SIDECAR_BIN } from './sidecar-process.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

/**
 * Starts `fga serve`; resolves { apiUrl, storeId, pid, stop(), logTail() }.
 * `latencyMs` is added to every response (`--latency-ms`). The files are not
 * watched (`--watch-ms 0`): nothing changes them during a run, and polling
 * would be background work competing with the figures.
 */
export async function startFgaServe({ model, tuples, latencyMs = 0, bin = SIDECAR_BIN }) {
  let announce;
  const announced = new Promise((resolve) => (announce = resolve));
  const args = [bin, 'fga', 'serve', '--port', '0', '--model', model, '--tuples', tuples, '--watch-ms', '0'];
  if (latencyMs > 0) args.push('--latency-ms', String(latencyMs));
  const server = spawnServer(process.execPath, args, {
    cwd: REPO,
    onStdoutLine: (line) => {
      // pino log lines may share stdout; the announcement is the line with fga_api.
      try {
        const msg = JSON.parse(line);
        if (typeof msg.fga_api === 'string') announce(msg);
      } catch {
        // not JSON: ignore
      }
    },
  });
  let timer;
  const ready = Promise.race([
    announced,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`fga serve printed no fga_api line within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  const info = await untilReady(server, ready, 'fga serve');
  if (typeof info.store_id !== 'string') {
    await server.stop();
    throw new Error(`fga serve loaded no store from ${model} / ${tuples}`);
  }
  return {
    apiUrl: info.fga_api,
    storeId: info.store_id,
    pid: server.child.pid,
    stop: () => server.stop(),
    logTail: () => server.stderrTail(),
  };
}
