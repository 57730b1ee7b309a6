// The protobuf types the gRPC transport speaks, loaded once from proto/ by
// protobufjs reflection. protobufjs generates each type's encoder and decoder
// on first use, so after warm-up encode/decode run as specialised functions.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** proto/ at the package root: three levels up from src/transport/grpc and from dist/transport/grpc. */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

export interface GrpcCodec {
  readonly CheckRequest: protobuf.Type;
  readonly CheckResponse: protobuf.Type;
  readonly HealthCheckRequest: protobuf.Type;
  readonly HealthCheckResponse: protobuf.Type;
}

let cached: GrpcCodec | undefined;

export function loadProtoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  // google/protobuf/* are bundled with protobufjs; everything else is ours.
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
  root.loadSync(['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto']);
  root.resolveAll();
  return root;
}

export function grpcCodec(): GrpcCodec {
  if (cached === undefined) {
    const root = loadProtoRoot();
    cached = {
      CheckRequest: root.lookupType('envoy.service.auth.v3.CheckRequest'),
      CheckResponse: root.lookupType('envoy.service.auth.v3.CheckResponse'),
      HealthCheckRequest: root.lookupType('grpc.health.v1.HealthCheckRequest'),
      HealthCheckResponse: root.lookupType('grpc.health.v1.HealthCheckResponse'),
    };
  }
  return cached;
}
