// Fuzz: thousands of random CheckRequests — garbage headers and paths, missing
// attributes, random bytes instead of protobuf — through the real server and
// the real Authorizer over a few HTTP/2 connections. The properties: the
// server never crashes, every answer is a valid CheckResponse, and nothing is
// allowed unless the request carried the one valid identity.
import t from 'tap';
import type http2 from 'node:http2';
import { CheckRequestType, CheckResponseType, type CheckResponseObject } from '../../support/grpc-client.js';
import { connect, frame, rawCall, unframe } from '../../support/grpc-raw.js';
import { VALID_TOKEN, startAuthorizerServer } from '../../support/grpc-authorizer.js';
import { CHECK_PATH } from '../../../src/transport/grpc/server.js';

const TOTAL = 10_000;
const CONNECTIONS = 3;
const IN_FLIGHT = 48;
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

/** mulberry32: small, seedable, good enough to pick test inputs. */
function prng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const int = (n: number): number => Math.floor(rand() * n);
const chance = (p: number): boolean => rand() < p;
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const PATH_PIECES = ['/', 'api', 'slow', 'admin', '..', '.', '%2e', '%2E%2e', '%2f', '%5C', '\\', '//', '%00', '%', '%zz',
  'é', '%C3%A9', '%FF', '~', ' ', '?', '#', '&', '=', 'a;b', '\u0000', '\t', '\ud800', '😀', 'x'.repeat(300)];
const HEADER_NAMES = ['authorization', 'Authorization', 'x-user-id', 'x-tenant-id', 'x-roles', 'cookie', 'x-request-id',
  'x-async-identity', ':path', ':authority', 'host', '', ' ', 'x-\u00ff', 'x-forwarded-for', 'te'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'get', '', 'CONNECT', 'G E T', '\u0000'];

function randomString(max: number): string {
  const n = int(max);
  let s = '';
  for (let i = 0; i < n; i++) {
    s += chance(0.85) ? String.fromCharCode(0x20 + int(0x5f)) : String.fromCharCode(int(0x10000));
  }
  return s;
}

function randomPath(): string {
  if (chance(0.3)) {
    // Mostly plausible: /api/... with a little damage.
    let p = `/api/${pick(['things', 'slow', 'x'])}/${int(1000)}`;
    if (chance(0.3)) p += pick(PATH_PIECES);
    if (chance(0.2)) p += `?${randomString(20)}`;
    return p;
  }
  let p = chance(0.9) ? '/' : '';
  const n = int(8);
  for (let i = 0; i < n; i++) p += pick(PATH_PIECES) + (chance(0.5) ? '/' : '');
  return p;
}

function randomStructValue(depth: number): unknown {
  switch (depth > 3 ? int(4) : int(6)) {
    case 0: return { stringValue: randomString(10) };
    case 1: return { numberValue: rand() * 1e6 };
    case 2: return { boolValue: chance(0.5) };
    case 3: return { nullValue: 0 };
    case 4: return { structValue: { fields: { [randomString(5)]: randomStructValue(depth + 1) } } };
    default: return { listValue: { values: [randomStructValue(depth + 1), randomStructValue(depth + 1)] } };
  }
}

interface Case {
  readonly body: Buffer;
  /** True only when we put the one valid token in, once, as the only authorization header. */
  readonly validIdentity: boolean;
  /** A request that must be allowed: keeps the fuzzer honest (not all denies). */
  readonly mustAllow: boolean;
}

function randomCase(): Case {
  if (chance(0.08)) {
    const junk = Buffer.alloc(int(300));
    for (let i = 0; i < junk.length; i++) junk[i] = int(256);
    return { body: junk, validIdentity: false, mustAllow: false };
  }
  const clean = chance(0.1);
  const headers: Array<[string, string]> = [];
  const n = clean ? 0 : int(8);
  for (let i = 0; i < n; i++) {
    headers.push([pick(HEADER_NAMES), chance(0.05) ? 'v'.repeat(int(70_000)) : randomString(40)]);
  }
  let validIdentity = false;
  if (clean || chance(0.5)) {
    headers.splice(int(headers.length + 1), 0, ['authorization', VALID_TOKEN]);
    validIdentity = headers.filter(([k]) => k.toLowerCase() === 'authorization').length === 1;
  } else if (chance(0.3)) {
    headers.push(['authorization', pick([`${VALID_TOKEN} `, VALID_TOKEN.toUpperCase(), 'Bearer ', 'Basic YTpi', randomString(30)])]);
  }
  if (clean && chance(0.5)) headers.push(['x-async-identity', '1']);
  const useHeaderMap = !clean && chance(0.25);
  const path = clean ? `/api/${pick(['things', 'slow'])}/${int(100)}` : randomPath();
  const http: Record<string, unknown> = {
    id: chance(0.5) ? randomString(20) : '',
    method: clean ? 'GET' : pick(METHODS),
    path,
    host: chance(0.8) ? 'api.example' : randomString(30),
    scheme: pick(['http', 'https', '', randomString(5)]),
    protocol: pick(['HTTP/1.1', 'HTTP/2', '']),
  };
  if (useHeaderMap) {
    http.headerMap = { headers: headers.map(([key, v]) => (chance(0.5) ? { key, value: v } : { key, rawValue: Buffer.from(v) })) };
  } else {
    const map: Record<string, string> = {};
    // A map cannot repeat a key: Envoy would have joined them with ','.
    for (const [k, v] of headers) map[k.toLowerCase()] = map[k.toLowerCase()] === undefined ? v : `${map[k.toLowerCase()]},${v}`;
    http.headers = map;
  }
  if (chance(0.1)) http.rawBody = Buffer.from(randomString(100));
  if (clean) {
    http.id = '';
    http.host = 'api.example';
    http.scheme = 'https';
  }
  const attributes: Record<string, unknown> = {
    request: !clean && chance(0.04) ? {} : { time: { seconds: int(2e9), nanos: int(1e9) }, http },
    source: clean
      ? { address: { socketAddress: { address: '10.0.0.1', portValue: 1234 } } }
      : { address: { socketAddress: { address: randomString(15), portValue: int(65536) } }, principal: chance(0.2) ? randomString(30) : '' },
    contextExtensions: !clean && chance(0.2) ? { [randomString(8)]: randomString(8) } : {},
  };
  if (!clean && chance(0.3)) attributes.metadataContext = { filterMetadata: { [randomString(10)]: { fields: { k: randomStructValue(0) } } } };
  const msg = !clean && chance(0.03) ? {} : { attributes };
  let body: Buffer;
  try {
    body = Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(msg)).finish());
  } catch {
    body = Buffer.from([0x0a, 0x00]);
  }
  // Corrupt a few encoded messages in place: flipped bytes, truncation.
  if (!clean && chance(0.05) && body.length > 0) {
    const at = int(body.length);
    body[at] = body[at]! ^ 0xff;
  }
  if (!clean && chance(0.03)) body = body.subarray(0, int(body.length));
  return { body, validIdentity, mustAllow: clean };
}

t.test(`fuzz ${TOTAL} CheckRequests through the real server and Authorizer (FUZZ_SEED=${seed})`, async (t) => {
  const server = await startAuthorizerServer();
  const sessions: http2.ClientHttp2Session[] = Array.from({ length: CONNECTIONS }, () => connect(server.port));
  t.teardown(async () => { for (const s of sessions) s.close(); await server.close(); });

  const failures: string[] = [];
  let allowed = 0;
  let mustAllow = 0;
  let denied = 0;
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < TOTAL) {
      const i = next++;
      const c = randomCase();
      const res = await rawCall(sessions[w % CONNECTIONS]!, CHECK_PATH, frame(c.body));
      if (res.grpcStatus !== 0) {
        failures.push(`#${i}: grpc-status ${res.grpcStatus} ${res.grpcMessage}`);
        continue;
      }
      let msg: CheckResponseObject;
      try {
        msg = CheckResponseType.toObject(CheckResponseType.decode(unframe(res.body)), { enums: Number }) as CheckResponseObject;
      } catch (err) {
        failures.push(`#${i}: not a CheckResponse: ${(err as Error).message}`);
        continue;
      }
      const code = msg.status?.code ?? 0;
      if (code === 0) {
        allowed++;
        if (!c.validIdentity) failures.push(`#${i}: OK without the valid identity`);
        if (msg.okResponse === undefined) failures.push(`#${i}: OK without ok_response`);
      } else {
        denied++;
        if (c.mustAllow) failures.push(`#${i}: clean request denied: ${msg.status?.message}`);
        const http = msg.deniedResponse?.status?.code;
        if (![401, 403, 429, 503].includes(http ?? 0)) failures.push(`#${i}: denied_response status ${http}`);
        try {
          const body = JSON.parse(msg.deniedResponse?.body ?? '') as { reason?: unknown; decision_id?: unknown };
          if (typeof body.reason !== 'string' || typeof body.decision_id !== 'string') failures.push(`#${i}: deny body ${msg.deniedResponse?.body}`);
        } catch {
          failures.push(`#${i}: deny body is not JSON`);
        }
      }
      if (c.mustAllow) mustAllow++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));

  t.same(failures.slice(0, 20), [], `no property violated (seed ${seed})`);
  t.equal(allowed + denied, TOTAL, 'every request answered');
  t.ok(mustAllow > 0 && allowed >= mustAllow, `clean requests were allowed (${allowed} allowed, ${denied} denied)`);
  // And the server is still there.
  const after = await rawCall(sessions[0]!, CHECK_PATH, frame(Buffer.alloc(0)));
  t.equal(after.grpcStatus, 0);
});
