// A minimal HTTP/2 client over a plain TCP socket that ignores the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS, the way a hostile client would (node's
// client queues streams past the limit itself, so it cannot show what the
// server does). Only what the tests need: HEADERS (HPACK literals, no
// Huffman), DATA, and reading RST_STREAM / GOAWAY / SETTINGS back.
import { connect, type Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const TYPE = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7 } as const;
const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export interface RawH2 {
  /** Opens stream `id` (odd) with a gRPC Check's headers; `body` (already gRPC-framed) ends the stream when given. */
  open(id: number, path: string, body?: Buffer): void;
  /** RST_STREAM codes received, by stream id. */
  readonly resets: Map<number, number>;
  /** The GOAWAY error code, once one arrived. */
  readonly goaway: () => number | undefined;
  /** Streams whose response HEADERS arrived. */
  readonly answered: Set<number>;
  readonly closed: () => boolean;
  close(): void;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK "literal without indexing", name by static-table index (4-bit prefix) or new name. */
function literal(nameIndex: number | string, value: string): Buffer {
  const v = Buffer.from(value, 'latin1');
  const len = (n: number): Buffer => (n < 127 ? Buffer.from([n]) : Buffer.from([127, n - 127])); // values < 254 bytes
  if (typeof nameIndex === 'string') {
    const n = Buffer.from(nameIndex, 'latin1');
    return Buffer.concat([Buffer.from([0]), len(n.length), n, len(v.length), v]);
  }
  const idx = nameIndex < 15 ? Buffer.from([nameIndex]) : Buffer.from([15, nameIndex - 15]);
  return Buffer.concat([idx, len(v.length), v]);
}

export function connectRawH2(port: number): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const resets = new Map<number, number>();
    const answered = new Set<number>();
    let buf = Buffer.alloc(0);
    let ready = false;
    let closed = false;
    let goaway: number | undefined;
    socket.on('error', (err) => (ready ? undefined : reject(err)));
    socket.on('close', () => (closed = true));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        if (type === TYPE.SETTINGS && (flags & FLAG.ACK) === 0) {
          // Acknowledge: only then does the server's MAX_CONCURRENT_STREAMS apply.
          socket.write(frame(TYPE.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0)));
          if (!ready) {
            ready = true;
            resolve(api);
          }
        } else if (type === TYPE.RST_STREAM) {
          resets.set(stream, payload.readUInt32BE(0));
        } else if (type === TYPE.GOAWAY) {
          goaway = payload.readUInt32BE(4);
        } else if (type === TYPE.HEADERS) {
          answered.add(stream);
        }
      }
    });
    socket.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0, Buffer.alloc(0))]));
    const api: RawH2 = {
      open(id, path, body) {
        const block = Buffer.concat([
          Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
          literal(4, path), // :path
          literal(1, `127.0.0.1:${port}`), // :authority
          literal(31, 'application/grpc'), // content-type
          literal('te', 'trailers'),
        ]);
        socket.write(frame(TYPE.HEADERS, FLAG.END_HEADERS, id, block));
        if (body !== undefined) socket.write(frame(TYPE.DATA, FLAG.END_STREAM, id, body));
      },
      resets,
      goaway: () => goaway,
      answered,
      closed: () => closed,
      close: () => socket.destroy(),
    };
  });
}
