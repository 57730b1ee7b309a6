// The ext_authz v3 messages, loaded from the repository's proto/ with
// protobufjs reflection, so the bench encodes exactly what the sidecar decodes.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

let cached;

/** { CheckRequest, CheckResponse } as protobufjs Types. */
export function authzTypes() {
  if (cached === undefined) {
    const root = new protobuf.Root();
    // google/protobuf/* ship with protobufjs; everything else is in proto/.
    root.resolvePath = (_origin, target) =>
      target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
    root.loadSync('envoy/service/auth/v3/external_auth.proto');
    root.resolveAll();
    cached = {
      CheckRequest: root.lookupType('envoy.service.auth.v3.CheckRequest'),
      CheckResponse: root.lookupType('envoy.service.auth.v3.CheckResponse'),
    };
  }
  return cached;
}

/** gRPC length-prefixed message: flag 0 (not compressed), 4-byte big-endian length, message. */
export function grpcFrame(message) {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The message inside one gRPC frame; throws when the framing is wrong. */
export function grpcUnframe(body) {
  if (body.length < 5) throw new Error(`gRPC body of ${body.length} bytes has no frame`);
  if (body[0] !== 0) throw new Error('gRPC response is compressed');
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) throw new Error(`gRPC frame says ${length} bytes, body has ${body.length - 5}`);
  return body.subarray(5);
}
