// A real @grpc/grpc-js client for our ext_authz and health services, built
// from our own .proto files with protobufjs (no proto-loader): the interop
// test is grpc-js's HTTP/2 and framing against ours.
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { loadProtoRoot } from '../../src/transport/grpc/proto-codec.js';

const root = loadProtoRoot();
export const CheckRequestType = root.lookupType('envoy.service.auth.v3.CheckRequest');
export const CheckResponseType = root.lookupType('envoy.service.auth.v3.CheckResponse');
const HealthRequestType = root.lookupType('grpc.health.v1.HealthCheckRequest');
const HealthResponseType = root.lookupType('grpc.health.v1.HealthCheckResponse');

/** CheckResponse as a plain object (camelCase, enums as numbers). */
export interface CheckResponseObject {
  status?: { code?: number; message?: string };
  okResponse?: {
    headers?: HeaderOptionObject[];
    headersToRemove?: string[];
    responseHeadersToAdd?: HeaderOptionObject[];
  };
  deniedResponse?: { status?: { code?: number }; headers?: HeaderOptionObject[]; body?: string };
  dynamicMetadata?: { fields?: Record<string, { stringValue?: string }> };
}

export interface HeaderOptionObject {
  header?: { key?: string; value?: string };
  append?: { value?: boolean };
  appendAction?: number;
}

function codec(type: protobuf.Type) {
  return {
    serialize: (obj: object): Buffer => Buffer.from(type.encode(type.fromObject(obj)).finish()),
    deserialize: (buf: Buffer): object => type.toObject(type.decode(buf), { enums: Number, longs: String }),
  };
}

function unary(path: string, req: protobuf.Type, res: protobuf.Type): grpc.MethodDefinition<object, object> {
  const q = codec(req);
  const r = codec(res);
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: q.serialize,
    requestDeserialize: q.deserialize,
    responseSerialize: r.serialize,
    responseDeserialize: r.deserialize,
  };
}

const AuthorizationClient = grpc.makeGenericClientConstructor(
  { Check: unary('/envoy.service.auth.v3.Authorization/Check', CheckRequestType, CheckResponseType) },
  'Authorization',
);
const HealthClient = grpc.makeGenericClientConstructor(
  {
    Check: unary('/grpc.health.v1.Health/Check', HealthRequestType, HealthResponseType),
    Watch: { ...unary('/grpc.health.v1.Health/Watch', HealthRequestType, HealthResponseType), responseStream: true },
  },
  'Health',
);

export interface CallResult<T> {
  readonly response: T | undefined;
  readonly error: grpc.ServiceError | undefined;
  /** The status (and trailers) grpc-js reported for the call. */
  readonly status: grpc.StatusObject;
}

type UnaryMethod = (
  req: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: object) => void,
) => grpc.ClientUnaryCall;

function call<T>(client: grpc.Client, method: string, req: object, options: grpc.CallOptions = {}): Promise<CallResult<T>> {
  return new Promise((resolve) => {
    let response: T | undefined;
    let error: grpc.ServiceError | undefined;
    let done = 0;
    let status: grpc.StatusObject | undefined;
    const finish = (): void => {
      if (++done === 2) resolve({ response, error, status: status! });
    };
    const fn = (client as unknown as Record<string, UnaryMethod>)[method]!;
    const c = fn.call(client, req, new grpc.Metadata(), options, (err, res) => {
      error = err ?? undefined;
      response = res as T | undefined;
      finish();
    });
    c.on('status', (s: grpc.StatusObject) => {
      status = s;
      finish();
    });
  });
}

export class AuthzClient {
  readonly authz: grpc.Client;
  readonly health: grpc.Client;

  constructor(port: number) {
    const address = `127.0.0.1:${port}`;
    const creds = grpc.credentials.createInsecure();
    this.authz = new AuthorizationClient(address, creds);
    // Same channel options → grpc-js shares the subchannel (one connection).
    this.health = new HealthClient(address, creds);
  }

  check(req: object, options: grpc.CallOptions = {}): Promise<CallResult<CheckResponseObject>> {
    return call<CheckResponseObject>(this.authz, 'Check', req, options);
  }

  healthCheck(service = ''): Promise<CallResult<{ status?: number }>> {
    return call<{ status?: number }>(this.health, 'Check', { service });
  }

  /** Health/Watch: resolves with the stream's final status. */
  healthWatch(service = ''): Promise<grpc.StatusObject> {
    const fn = (this.health as unknown as Record<string, (r: object) => grpc.ClientReadableStream<object>>).Watch!;
    const stream = fn.call(this.health, { service });
    return new Promise((resolve) => {
      stream.on('data', () => undefined);
      stream.on('error', () => undefined);
      stream.on('status', (s: grpc.StatusObject) => resolve(s));
    });
  }

  close(): void {
    this.authz.close();
    this.health.close();
  }
}

/** A CheckRequest the way Envoy's HTTP ext_authz filter builds one. */
export function envoyCheckRequest(http: {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  id?: string;
} = {}): object {
  return {
    attributes: {
      source: { address: { socketAddress: { address: '10.0.0.7', portValue: 51234 } } },
      destination: { address: { socketAddress: { address: '10.0.0.8', portValue: 8080 } } },
      request: {
        time: { seconds: 1_700_000_000, nanos: 0 },
        http: {
          id: http.id ?? 'req-1',
          method: http.method ?? 'GET',
          path: http.path ?? '/api/v1/things',
          host: http.host ?? 'api.example',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: { ':method': http.method ?? 'GET', ':path': http.path ?? '/api/v1/things', ...http.headers },
        },
      },
    },
  };
}

/** Header options as a name → value record (asserting every option overwrites). */
export function headerRecord(options: HeaderOptionObject[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options ?? []) out[o.header?.key ?? ''] = o.header?.value ?? '';
  return out;
}
