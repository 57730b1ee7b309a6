// Raw gRPC over node:http2, for what a well-behaved client never sends:
// broken protobuf, bad framing, compression flags, resets.
import http2 from 'node:http2';

export interface RawResponse {
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  /** grpc-status from trailers, or from headers for a trailers-only response. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
}

export function connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

export function frame(message: Uint8Array, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (resHeaders = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      const status = trailers['grpc-status'] ?? resHeaders['grpc-status'];
      const message = trailers['grpc-message'] ?? resHeaders['grpc-message'];
      resolve({
        headers: resHeaders,
        trailers,
        body: Buffer.concat(chunks),
        grpcStatus: status === undefined ? undefined : Number(status),
        grpcMessage: typeof message === 'string' ? decodeURIComponent(message) : undefined,
      });
    });
    // A GET is sent with END_STREAM already (node does that for body-less methods).
    if (!req.writableEnded) req.end(body);
  });
}

/** The message inside a single-frame gRPC response body. */
export function unframe(body: Buffer): Buffer {
  if (body.length < 5) throw new Error(`response body of ${body.length} bytes has no gRPC frame`);
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) throw new Error(`frame says ${length} bytes, body has ${body.length - 5}`);
  return body.subarray(5);
}
