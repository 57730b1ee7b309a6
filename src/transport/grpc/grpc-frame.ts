// gRPC's length-prefixed message: 1 byte compressed flag, 4 bytes big-endian
// length, then the message. A unary call carries exactly one.
export const FRAME_HEADER_BYTES = 5;

export function frameMessage(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, FRAME_HEADER_BYTES);
  return frame;
}

export type UnaryBody =
  | { readonly kind: 'message'; readonly message: Buffer }
  /** The compressed flag was set: we never negotiate an encoding, so we cannot read it. */
  | { readonly kind: 'compressed' }
  /** No frame, a truncated frame, or bytes after the one message. */
  | { readonly kind: 'bad_framing'; readonly detail: string };

/** Reads the single message of a unary request body. */
export function readUnaryBody(body: Buffer): UnaryBody {
  if (body.length < FRAME_HEADER_BYTES) return { kind: 'bad_framing', detail: 'no request message' };
  const flag = body[0];
  const length = body.readUInt32BE(1);
  if (body.length !== FRAME_HEADER_BYTES + length) {
    return {
      kind: 'bad_framing',
      detail: body.length < FRAME_HEADER_BYTES + length ? 'truncated request message' : 'more than one request message',
    };
  }
  if (flag === 1) return { kind: 'compressed' };
  if (flag !== 0) return { kind: 'bad_framing', detail: 'bad message flag' };
  return { kind: 'message', message: body.subarray(FRAME_HEADER_BYTES) };
}
