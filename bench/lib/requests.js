// The request every scenario sends, in both wire forms: a gRPC-framed
// CheckRequest as Envoy would build it for the proxied call, and the headers
// Envoy's http_service would forward. One definition keeps the two in step.
import { writeFileSync } from 'node:fs';
import { authzTypes, grpcFrame } from './proto.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/**
 * A proxied request: { method, path, host, token }. Headers besides the
 * bearer token are what a typical Envoy forwards (pseudo-headers included,
 * as Envoy puts them in the CheckRequest's header map); `requestId` is the
 * x-request-id (one fixed id unless given).
 */
export function checkRequestMessage({ method, path, host, token, requestId = '5f0c2bb2-6a1e-4b51-9a53-7c3c8f0e1a2d' }) {
  const { CheckRequest } = authzTypes();
  const now = Date.now();
  const msg = {
    attributes: {
      source: { address: { socketAddress: { address: '10.0.3.7', portValue: 51234 } } },
      destination: { address: { socketAddress: { address: '10.0.3.12', portValue: 8080 } } },
      request: {
        time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
        http: {
          id: '8711913421556461123',
          method,
          path,
          host,
          scheme: 'http',
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': host,
            ':method': method,
            ':path': path,
            ':scheme': 'http',
            accept: 'application/json',
            'user-agent': 'bench-client/1.0',
            'x-forwarded-proto': 'http',
            'x-request-id': requestId,
            authorization: `Bearer ${token}`,
          },
        },
      },
    },
  };
  const err = CheckRequest.verify(msg);
  if (err) throw new Error(`bench CheckRequest does not match the proto: ${err}`);
  return CheckRequest.encode(CheckRequest.fromObject(msg)).finish();
}

/** Writes the gRPC-framed CheckRequest h2load posts (`-d file`) and returns its bytes. */
export function writeCheckRequestBody(file, req) {
  const body = grpcFrame(checkRequestMessage(req));
  writeFileSync(file, body);
  return body;
}

/** Headers for the HTTP ext_authz form of the same request. */
export function httpAuthzHeaders({ token }) {
  return {
    accept: 'application/json',
    'user-agent': 'bench-client/1.0',
    'x-forwarded-proto': 'http',
    'x-request-id': '5f0c2bb2-6a1e-4b51-9a53-7c3c8f0e1a2d',
    authorization: `Bearer ${token}`,
  };
}
