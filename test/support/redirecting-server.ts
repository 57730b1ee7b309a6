// A real loopback HTTP server that records every request's headers and
// answers each path from a table: a redirect (status + Location), or a body.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

export type Answer = { redirect: string; status?: 301 | 302 | 303 | 307 | 308 } | { status?: number; body: Uint8Array | string; type?: string };

export interface RecordingServer {
  readonly origin: string;
  readonly requests: Array<{ path: string; headers: IncomingHttpHeaders }>;
  answer(path: string, answer: Answer): void;
}

export async function startRecordingServer(t: Test): Promise<RecordingServer> {
  const answers = new Map<string, Answer>();
  const requests: RecordingServer['requests'] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, headers: req.headers });
    const a = answers.get(path);
    if (a === undefined) {
      res.writeHead(404).end();
      return;
    }
    if ('redirect' in a) {
      res.writeHead(a.status ?? 302, { location: a.redirect }).end();
      return;
    }
    res.writeHead(a.status ?? 200, { 'content-type': a.type ?? 'application/octet-stream' }).end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, requests, answer: (path, answer) => void answers.set(path, answer) };
}
