// gRPC status codes (google.rpc.Code) and the grpc-message encoding. Names
// follow the gRPC spec so a reader can look them up there.
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/**
 * grpc-message is percent-encoded UTF-8: every byte outside printable ASCII,
 * and '%' itself, becomes %XX (gRPC over HTTP/2, "Responses").
 */
export function encodeGrpcMessage(message: string): string {
  // Fast path: most messages are plain ASCII without '%'.
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  for (const b of bytes) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
