// A misbehaving Redis for tests: a TCP proxy on a free loopback port in front
// of a real redis-server. Commands go to the real server unchanged; each
// reply comes back through `answer`, which may pass it on, replace it with
// other bytes (a RESP2 or RESP3 reply of the wrong shape), swallow it (a reply
// that never arrives), or stream a huge one until the client hangs up.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';

export type Answer =
  | { readonly kind: 'pass' }
  | { readonly kind: 'replace'; readonly bytes: string | Buffer }
  | { readonly kind: 'swallow' }
  /** Writes `header`, then `chunk` over and over, until the client closes or `limitBytes` is reached. */
  | { readonly kind: 'flood'; readonly header: string; readonly chunk: Buffer; readonly limitBytes: number };

export interface RespProxy {
  readonly port: number;
  readonly url: string;
  /** Client connections accepted so far (a reconnect is a new one). */
  readonly connections: number;
  /** Bytes written by floods before the client hung up (or the limit). */
  readonly floodedBytes: number;
  /** Client connections the client closed while a flood was running. */
  readonly floodsCutShort: number;
}

/** The command name (lower case) and its arguments, as the client sent them. */
export type Command = readonly string[];

export async function startRespProxy(
  t: Test,
  upstreamPort: number,
  answer: (command: Command, reply: Buffer) => Answer,
): Promise<RespProxy> {
  const state = { connections: 0, floodedBytes: 0, floodsCutShort: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    state.connections++;
    sockets.add(client);
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
    sockets.add(upstream);
    const commands: Command[] = [];
    const readCommands = new RespSplitter((frame) => commands.push(commandOf(frame)));
    const readReplies = new RespSplitter((frame) => {
      const command = commands.shift() ?? [];
      const a = answer(command, frame);
      if (a.kind === 'pass') client.write(frame);
      else if (a.kind === 'replace') client.write(a.bytes);
      else if (a.kind === 'flood') flood(client, a, state);
    });
    client.on('data', (chunk: Buffer) => {
      readCommands.feed(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => readReplies.feed(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    get floodedBytes() {
      return state.floodedBytes;
    },
    get floodsCutShort() {
      return state.floodsCutShort;
    },
  };
}

function flood(client: Socket, a: Extract<Answer, { kind: 'flood' }>, state: { floodedBytes: number; floodsCutShort: number }): void {
  client.write(a.header);
  let written = 0;
  let closed = false;
  client.once('close', () => {
    closed = true;
    if (written < a.limitBytes) state.floodsCutShort++;
  });
  const pump = () => {
    while (!closed && written < a.limitBytes) {
      written += a.chunk.length;
      state.floodedBytes += a.chunk.length;
      if (!client.write(a.chunk)) {
        client.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function commandOf(frame: Buffer): Command {
  // A command is an array of bulk strings: *N, then $len / bytes pairs.
  const parts = frame.toString('latin1').split('\r\n');
  const out: string[] = [];
  for (let i = 2; i < parts.length; i += 2) out.push(parts[i]!);
  if (out.length > 0) out[0] = out[0]!.toLowerCase();
  return out;
}

/**
 * Splits a RESP byte stream (either direction) into whole frames. Enough
 * RESP for what a real redis-server and ioredis send: simple lines, bulk
 * strings and (nested) arrays.
 */
class RespSplitter {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  feed(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = frameEnd(this.buffer, 0);
      if (end < 0) return;
      this.onFrame(this.buffer.subarray(0, end));
      this.buffer = this.buffer.subarray(end);
    }
  }
}

/** The offset just past the frame starting at `at`, or -1 when it is not complete yet. */
function frameEnd(b: Buffer, at: number): number {
  if (at >= b.length) return -1;
  const lineEnd = b.indexOf('\r\n', at);
  if (lineEnd < 0) return -1;
  const type = String.fromCharCode(b[at]!);
  const n = Number(b.toString('latin1', at + 1, lineEnd));
  let p = lineEnd + 2;
  if (type === '$') return n < 0 ? p : p + n + 2 <= b.length ? p + n + 2 : -1;
  if (type === '*') {
    for (let i = 0; i < n; i++) {
      p = frameEnd(b, p);
      if (p < 0) return -1;
    }
    return p;
  }
  return p;
}
