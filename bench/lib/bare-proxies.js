// Bare reverse proxies with no authorization: the ceiling for the sidecar's
// inline proxy mode (issue 16). Each forwards every request to the upstream
// over pooled keep-alive connections, streaming both bodies:
//  - undici: an undici Pool and pool.stream(), as the sidecar's proxy does.
//  - http-proxy: http-proxy with a keep-alive http.Agent (without one it
//    opens a connection per request, which is what the issue measured).
// Run as a child: `node bench/lib/bare-proxies.js undici|http-proxy UPSTREAM_URL`;
// prints {"port":N} once listening, stops on SIGTERM.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';

export const BARE_PROXY_KINDS = ['undici', 'http-proxy'];

/** Starts a bare proxy in its own process; resolves { port, pid, stop() }. */
export async function startBareProxy(kind, upstream) {
  if (!BARE_PROXY_KINDS.includes(kind)) throw new Error(`unknown bare proxy kind ${kind}`);
  let onPort;
  const portKnown = new Promise((resolve) => (onPort = resolve));
  const server = spawnServer(process.execPath, [fileURLToPath(import.meta.url), kind, upstream], {
    onStdoutLine: (line) => {
      try {
        const msg = JSON.parse(line);
        if (typeof msg.port === 'number') onPort(msg.port);
      } catch {
        // not our announcement
      }
    },
  });
  const port = await untilReady(server, portKnown, `bare ${kind} proxy`);
  return { kind, port, pid: server.child.pid, stop: () => server.stop() };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

async function serveUndici(upstream) {
  const { Pool } = await import('undici');
  const pool = new Pool(upstream, { connections: 64, keepAliveTimeout: 4000 });
  return http.createServer((req, res) => {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    pool.stream({ path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
      ({ statusCode, headers: h }) => {
        const out = {};
        for (const [k, v] of Object.entries(h)) if (!HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(statusCode, out);
        return res;
      },
      (err) => {
        if (err && !res.headersSent) { res.writeHead(502); res.end(); } else if (err) res.destroy();
      });
  });
}

async function serveHttpProxy(upstream) {
  const { default: httpProxy } = await import('http-proxy');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const proxy = httpProxy.createProxyServer({ target: upstream, agent, xfwd: true });
  proxy.on('error', (_err, _req, res) => { if (!res.headersSent) { res.writeHead(502); res.end(); } });
  return http.createServer((req, res) => proxy.web(req, res));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, upstream] = process.argv.slice(2);
  const server = kind === 'undici' ? await serveUndici(upstream) : await serveHttpProxy(upstream);
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
