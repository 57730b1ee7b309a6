// No-op responders: the ceiling for Node on this machine, so that a sidecar
// figure can be read as a fraction of what the runtime itself allows.
//
//  - http2: a gRPC responder written directly on node:http2, answering every
//    POST, after reading its body, with a fixed, pre-encoded CheckResponse
//    (status OK, ok_response) and trailers grpc-status 0 — the same
//    respond/waitForTrailers/end sequence the sidecar's transport uses, minus
//    decoding and deciding.
//  - http: node:http answering 200 with an empty body.
//
// Run as a child: `node bench/lib/noop-servers.js http2|http`; it prints
// {"port":N} on stdout once listening and stops on SIGTERM.
import http from 'node:http';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';
import { authzTypes, grpcFrame } from './proto.js';

export const NOOP_KINDS = ['http2', 'http'];

/** Starts a no-op responder in its own process; resolves { port, stop() }. */
export async function startNoopServer(kind) {
  if (!NOOP_KINDS.includes(kind)) throw new Error(`unknown no-op server kind ${kind}`);
  let onPort;
  const portKnown = new Promise((resolve) => (onPort = resolve));
  // BENCH_NOOP_NODE_ARGS: node flags for the no-op too (e.g. the sched-probe), to read its tail the same way.
  const nodeArgs = process.env.BENCH_NOOP_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const server = spawnServer(process.execPath, [...nodeArgs, fileURLToPath(import.meta.url), kind], {
    onStdoutLine: (line) => {
      try {
        const msg = JSON.parse(line);
        if (typeof msg.port === 'number') onPort(msg.port);
      } catch {
        // not our announcement
      }
    },
  });
  const port = await untilReady(server, portKnown, `no-op ${kind} server`);
  return { kind, port, pid: server.child.pid, stop: () => server.stop() };
}

function serveHttp2() {
  const { CheckResponse } = authzTypes();
  const okFrame = grpcFrame(CheckResponse.encode({ status: { code: 0 }, okResponse: {} }).finish());
  const headers = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
  const trailers = Object.freeze({ 'grpc-status': '0' });
  function sendTrailers() {
    this.sendTrailers(trailers);
  }
  function answer() {
    if (this.closed || this.destroyed) return;
    this.respond(headers, { waitForTrailers: true });
    this.once('wantTrailers', sendTrailers);
    this.end(okFrame);
  }
  function ignore() {}
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', ignore);
    stream.on('data', ignore);
    stream.on('end', answer);
  });
  return server;
}

function serveHttp() {
  const headers = { 'content-length': '0' };
  const server = http.createServer((req, res) => {
    res.writeHead(200, headers);
    res.end();
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function main(kind) {
  const server = kind === 'http2' ? serveHttp2() : kind === 'http' ? serveHttp() : undefined;
  if (server === undefined) {
    process.stderr.write(`usage: noop-servers.js ${NOOP_KINDS.join('|')}\n`);
    process.exit(2);
  }
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv[2]);
