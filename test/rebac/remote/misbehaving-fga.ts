// An OpenFGA impostor for the fault tests: a node:http server in front of a
// real `fga serve` (startFga) that forwards what it is not told to break and,
// per endpoint, answers Check / BatchCheck / ReadChanges the way a broken or
// hostile server would: a 200 with a malformed body, a body far over any cap,
// a redirect, a slow drip, a 429 with Retry-After, a 400, a keep-alive
// connection it half-closes after answering. It records what it saw so the
// tests can tell what the client did (did it follow the redirect, did it
// close a dripping response before the end).
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Test } from 'tap';
import type { FgaFixture } from './harness.js';

export type Fault =
  | 'pass'
  | 'malformed'      // 200, JSON without a boolean `allowed` (BatchCheck: one item's `allowed` a string)
  | 'not_json'       // 200, an HTML page
  | 'huge'           // 200, 64 MiB of JSON-looking bytes, streamed
  | 'redirect'       // 307 to another server (which counts what reaches it)
  | 'drip'           // 200, then one byte every 50 ms, for ever
  | 'rate_limited'   // 429 with Retry-After: 30
  | 'bad_request'    // 400 with OpenFGA's error body
  | 'half_close'     // a normal answer, then the server ends the keep-alive socket
  | 'long_page';     // ReadChanges: 200 changes whatever page_size asked for

export interface Impostor {
  url: string;
  /** Faults by endpoint: `check`, `batch-check`, `changes`. */
  faults: Record<string, Fault>;
  /** Requests seen, by endpoint. */
  count(endpoint: string): number;
  /** Requests that reached the redirect target. */
  redirectedHits(): number;
  /** Streamed fault answers whose socket closed before the server finished (the client cut them off). */
  cutOff(): number;
  /** Sockets the server half-closed. */
  halfClosed(): number;
}

const HUGE_BYTES = 64 * 1024 * 1024;

export async function startImpostor(t: Test, fga: FgaFixture): Promise<Impostor> {
  const counts: Record<string, number> = {};
  let redirected = 0;
  let cutOff = 0;
  let halfClosed = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  const target: Server = createServer((req, res) => {
    redirected++;
    req.resume();
    res.end('{"allowed":true}');
  });
  await listen(target);
  const targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}`;

  const faults: Record<string, Fault> = {};
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const endpoint = (req.url ?? '').split('?')[0]!.split('/').pop() ?? '';
    counts[endpoint] = (counts[endpoint] ?? 0) + 1;
    const fault = faults[endpoint] ?? 'pass';
    if (fault === 'pass' || fault === 'half_close') {
      forward(req, res, fga.directUrl, () => {
        if (fault !== 'half_close') return;
        halfClosed++;
        req.socket.end(); // FIN after the answer: the client's idle keep-alive socket is now dead
      });
      return;
    }
    req.resume();
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    switch (fault) {
      case 'malformed':
        if (endpoint === 'batch-check') json(200, { result: { c0: { allowed: true }, c1: { allowed: 'true' } } });
        else json(200, { allowed: 'true' });
        return;
      case 'not_json':
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>Welcome to nginx!</body></html>');
        return;
      case 'huge':
        streamHuge(res, () => cutOff++);
        return;
      case 'redirect':
        res.writeHead(307, { location: `${targetUrl}${req.url ?? ''}` });
        res.end();
        return;
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"allowed":');
        const timer = setInterval(() => res.write(' '), 50);
        timers.add(timer);
        res.on('close', () => {
          clearInterval(timer);
          timers.delete(timer);
          if (!res.writableFinished) cutOff++;
        });
        return;
      }
      case 'rate_limited':
        json(429, { code: 'rate_limit_exceeded', message: 'rate limit exceeded' }, { 'retry-after': '30' });
        return;
      case 'bad_request':
        json(400, { code: 'validation_error', message: 'invalid CheckRequestTupleKey.User: value does not match regex pattern' });
        return;
      case 'long_page':
        json(200, {
          changes: Array.from({ length: 200 }, (_, i) => ({
            tuple_key: { user: 'user:x', relation: 'viewer', object: `project:p${i}` }, operation: 'TUPLE_OPERATION_WRITE', timestamp: new Date().toISOString(),
          })),
          continuation_token: 'next',
        });
        return;
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await listen(server);
  t.teardown(async () => {
    for (const timer of timers) clearInterval(timer);
    for (const s of sockets) s.destroy();
    await Promise.all([close(server), close(target)]);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    faults,
    count: (e) => counts[e] ?? 0,
    redirectedHits: () => redirected,
    cutOff: () => cutOff,
    halfClosed: () => halfClosed,
  };
}

/** 64 MiB in 64 KiB writes, each after the last drained; counts a cut-off if the socket closes first. */
function streamHuge(res: ServerResponse, onCutOff: () => void): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  let closed = false;
  res.on('close', () => {
    closed = true;
    if (sent < HUGE_BYTES) onCutOff();
  });
  const pump = (): void => {
    while (!closed && sent < HUGE_BYTES) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!closed) res.end();
  };
  res.write('{"allowed":true,"pad":"');
  pump();
}

function forward(req: IncomingMessage, res: ServerResponse, to: string, after: () => void): void {
  const url = new URL(to);
  const up = httpRequest({ host: url.hostname, port: url.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, connection: 'keep-alive' });
    upRes.pipe(res);
    res.on('finish', after);
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
}

function listen(s: Server): Promise<void> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r()));
}

function close(s: Server): Promise<void> {
  return new Promise((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });
}
