// An allowed Upgrade (WebSocket) request: the upstream's 101 is relayed to
// the client and the two sockets are joined; a denial or an upstream failure
// is a plain HTTP answer written on the client's socket, which is then closed.
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

/** Header values as node:http and undici give them: repeated headers as arrays. */
type OutgoingHeaders = Readonly<Record<string, string | readonly string[]>>;

/** A complete HTTP/1.1 response on a raw socket (no node:http response object exists for an upgrade). */
export function writeRawResponse(socket: Duplex, status: number, headers: OutgoingHeaders, body: string): void {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  const all: OutgoingHeaders = { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  appendHeaderLines(lines, all);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** Relays the upstream's 101 and pipes both ways; either side closing closes the other. */
export function joinSockets(client: Duplex, head: Buffer, upstream: Duplex, headers: OutgoingHeaders): void {
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  appendHeaderLines(lines, headers);
  client.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) upstream.write(head);
  const closeBoth = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', closeBoth).on('close', closeBoth);
  upstream.on('error', closeBoth).on('close', closeBoth);
  upstream.pipe(client);
  client.pipe(upstream);
}

function appendHeaderLines(lines: string[], headers: OutgoingHeaders): void {
  for (const [name, value] of Object.entries(headers)) {
    for (const v of typeof value === 'string' ? [value] : value) {
      // A raw write has no node:http validation: a CR or LF here would split the response.
      if (/[\r\n]/.test(name) || /[\r\n]/.test(v)) continue;
      lines.push(`${name}: ${v}`);
    }
  }
}
