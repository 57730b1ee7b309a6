// Fuzz the real sidecar: a config with real routes, real JWT verification
// against a real key set, the real tenant and RBAC stages, over its real gRPC
// and HTTP ext_authz servers. Random CheckRequests (garbage headers, paths,
// metadata, bytes that are not protobuf) and random raw HTTP/1.1 requests,
// carrying valid tokens (with Unicode, CR/LF and oversized claims), invalid
// ones (expired, wrong audience, unknown key, forged signature, alg none), or
// none. Properties: nothing is allowed without exactly one valid token;
// every answer is well formed; clean requests are allowed (the fuzzer is not
// just producing denials); the process keeps serving.
// Replay a failure with the seed the test prints: FUZZ_SEED=<n> npx tap test/sidecar/fuzz.test.ts
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type http2 from 'node:http2';
import { CHECK_PATH } from '../../src/transport/grpc/server.js';
import { CheckRequestType, CheckResponseType, type CheckResponseObject } from '../support/grpc-client.js';
import { connect, frame, rawCall, unframe } from '../support/grpc-raw.js';
import { compactToken, createTestIssuer, nowSeconds, writeJwksFile } from '../support/jwt.js';
import { AUDIENCE, ISSUER, PROJECT_ROUTES, startTestSidecar } from '../support/sidecar.js';

const GRPC_TOTAL = 5000;
const HTTP_TOTAL = 1500;
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
t.comment(`FUZZ_SEED=${seed} (replay: FUZZ_SEED=${seed} npx tap test/sidecar/fuzz.test.ts)`);

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

const PATH_PIECES = ['/', 'api', 'v1', 'tenants', 'acme', 'globex', 'projects', '..', '.', '%2e', '%2E%2e', '%2f', '%5C', '\\', '//',
  '%00', '%', '%zz', 'é', '%C3%A9', '%FF', '~', ' ', '?', '#', '&', '=', 'a;b', '\u0000', '\t', '\ud800', '😀', 'x'.repeat(300)];
const HEADER_NAMES = ['authorization', 'Authorization', 'x-user-id', 'x-tenant-id', 'x-roles', 'cookie', 'x-request-id',
  ':path', ':authority', 'host', '', ' ', 'x-\u00ff', 'x-forwarded-for', 'te', 'x-authz-principal', 'x-budget-remaining'];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'get', '', 'CONNECT', 'G E T', '\u0000'];

function randomString(max: number): string {
  const n = int(max);
  let s = '';
  for (let i = 0; i < n; i++) s += chance(0.85) ? String.fromCharCode(0x20 + int(0x5f)) : String.fromCharCode(int(0x10000));
  return s;
}

function randomPath(): string {
  if (chance(0.4)) {
    let p = `/api/v1/tenants/${pick(['acme', 'globex', '', 'ac%6De'])}/projects/${int(1000)}`;
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

interface Tokens {
  /** Verify, and name tenant acme with a role that may read and write projects. */
  readonly valid: readonly string[];
  /** Each fails verification for another reason. */
  readonly invalid: readonly string[];
}

async function mintTokens(): Promise<{ tokens: Tokens; jwks: ReturnType<typeof Object> }> {
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const stranger = await createTestIssuer({ alg: 'ES256', kid: 'k1' }); // same kid, another key
  const sign = (claims: Record<string, unknown>, opts = {}) =>
    issuer.sign({ tenant_id: 'acme', roles: ['editor'], ...claims }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h', ...opts });
  const good = await sign({ sub: 'alice' });
  const [h, p, sig] = good.split('.') as [string, string, string];
  const valid = [
    good,
    await sign({ sub: '名前-😀-Ωmega' }),
    await sign({ sub: 'bob\r\nx-authz-tenant: globex', roles: ['editor', 'admin\r\nx-evil: 1', 'viewer\u0000'] }),
    await sign({ sub: `carol-${'x'.repeat(4000)}`, roles: ['editor', 'r'.repeat(2000)] }),
    await sign({ sub: 'dave', roles: 'editor viewer' }),
  ];
  const invalid = [
    await sign({ sub: 'alice' }, { expiresIn: -3600 }),
    await sign({ sub: 'alice' }, { audience: 'another-api' }),
    await sign({ sub: 'alice' }, { issuer: 'https://evil.example' }),
    await stranger.sign({ sub: 'alice', tenant_id: 'acme', roles: ['admin'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' }),
    `${h}.${p}.${sig.slice(0, -4)}${sig.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`,
    compactToken({ alg: 'none', typ: 'JWT' }, { sub: 'alice', tenant_id: 'acme', roles: ['admin'], iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 3600 }),
    compactToken({ alg: 'HS256', kid: 'k1' }, { sub: 'alice', tenant_id: 'acme', iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 3600 }, 'c2ln'),
    await sign({ sub: '' }),
  ];
  return { tokens: { valid, invalid }, jwks: issuer.jwks };
}

interface Credential {
  readonly headers: Array<[string, string]>;
  /** Exactly one authorization header, and it carries a valid token. */
  readonly validIdentity: boolean;
}

function randomCredential(tokens: Tokens, clean: boolean): Credential {
  const headers: Array<[string, string]> = [];
  const n = clean ? 0 : int(8);
  for (let i = 0; i < n; i++) headers.push([pick(HEADER_NAMES), chance(0.05) ? 'v'.repeat(int(70_000)) : randomString(40)]);
  if (clean || chance(0.45)) headers.splice(int(headers.length + 1), 0, ['authorization', `Bearer ${pick(tokens.valid)}`]);
  else if (chance(0.5)) headers.push(['authorization', `Bearer ${pick(tokens.invalid)}`]);
  else if (chance(0.3)) headers.push(['authorization', pick([`Bearer ${pick(tokens.valid)} `, `bearer${pick(tokens.valid)}`, 'Bearer ', 'Basic YTpi', randomString(30)])]);
  const auth = headers.filter(([k]) => k.toLowerCase() === 'authorization');
  // Leading and trailing whitespace is not part of a field value (RFC 9110 §5.5): `Bearer <token> ` is that token.
  const value = auth[0]?.[1].replace(/^[ \t]+|[ \t]+$/g, '');
  const validIdentity = auth.length === 1 && tokens.valid.some((tok) => value === `Bearer ${tok}`);
  return { headers, validIdentity };
}

interface GrpcCase {
  readonly body: Buffer;
  /** What the case carried, for a failure message. */
  readonly describe?: string;
  readonly validIdentity: boolean;
  readonly mustAllow: boolean;
}

function randomGrpcCase(tokens: Tokens): GrpcCase {
  if (chance(0.06)) {
    const junk = Buffer.alloc(int(300));
    for (let i = 0; i < junk.length; i++) junk[i] = int(256);
    return { body: junk, validIdentity: false, mustAllow: false };
  }
  const clean = chance(0.12);
  const cred = randomCredential(tokens, clean);
  const http: Record<string, unknown> = {
    // A random id may hold lone surrogates: not UTF-8 once encoded, so not a clean request.
    id: !clean && chance(0.5) ? randomString(20) : '',
    method: clean ? 'GET' : pick(METHODS),
    path: clean ? `/api/v1/tenants/acme/projects/p${int(100)}` : randomPath(),
    host: clean || chance(0.8) ? 'api.example' : randomString(30),
    scheme: clean ? 'https' : pick(['http', 'https', '', randomString(5)]),
    protocol: pick(['HTTP/1.1', 'HTTP/2', '']),
  };
  if (!clean && chance(0.25)) {
    http.headerMap = { headers: cred.headers.map(([key, v]) => (chance(0.5) ? { key, value: v } : { key, rawValue: Buffer.from(v) })) };
  } else {
    const map: Record<string, string> = {};
    // A map cannot repeat a key: Envoy would have joined them with ','.
    for (const [k, v] of cred.headers) map[k.toLowerCase()] = map[k.toLowerCase()] === undefined ? v : `${map[k.toLowerCase()]},${v}`;
    http.headers = map;
  }
  if (chance(0.1)) http.rawBody = Buffer.from(randomString(100));
  const attributes: Record<string, unknown> = {
    request: !clean && chance(0.04) ? {} : { time: { seconds: int(2e9), nanos: int(1e9) }, http },
    source: clean
      ? { address: { socketAddress: { address: '10.0.0.1', portValue: 1234 } } }
      : { address: { socketAddress: { address: randomString(15), portValue: int(65536) } }, principal: chance(0.2) ? randomString(30) : '' },
    contextExtensions: !clean && chance(0.2) ? { [randomString(8)]: randomString(8) } : {},
  };
  if (!clean && chance(0.3)) attributes.metadataContext = { filterMetadata: { [pick(['envoy.filters.http.jwt_authn', randomString(10)])]: { fields: { k: randomStructValue(0) } } } };
  const msg = !clean && chance(0.03) ? {} : { attributes };
  let body: Buffer;
  try {
    body = Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(msg)).finish());
  } catch {
    body = Buffer.from([0x0a, 0x00]);
  }
  if (!clean && chance(0.05) && body.length > 0) {
    const at = int(body.length);
    body[at] = body[at]! ^ 0xff;
  }
  if (!clean && chance(0.03)) body = body.subarray(0, int(body.length));
  const describe = JSON.stringify({ id: http.id, rawBody: http.rawBody !== undefined, protocol: http.protocol, headers: cred.headers.map(([k, v]) => [k, v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v]), map: http.headerMap !== undefined, path: http.path });
  return { body, validIdentity: cred.validIdentity, mustAllow: clean, describe };
}

/** One raw HTTP/1.1 request on its own connection; resolves the status line's code, headers and body (or 0 when the server closed without answering). */
function rawHttp(port: number, request: Buffer): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve) => {
    const sock = tcpConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const split = text.indexOf('\r\n\r\n');
      resolve({ status, head: split < 0 ? text : text.slice(0, split), body: split < 0 ? '' : text.slice(split + 4) });
    };
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', done);
    sock.setTimeout(10_000, () => sock.destroy());
    // write, not end: a client that half-closes before its answer is, to
    // node:http (as to nginx), a client that left, and an asynchronous
    // decision (a signature check) then finds the connection gone. Envoy
    // never half-closes; `connection: close` makes the server close after
    // answering.
    sock.write(request);
  });
}

function randomHttpRequest(tokens: Tokens): { bytes: Buffer; validIdentity: boolean; mustAllow: boolean } {
  const clean = chance(0.12);
  const cred = randomCredential(tokens, clean);
  const method = clean ? 'GET' : pick(METHODS);
  const path = clean ? `/api/v1/tenants/acme/projects/p${int(100)}` : randomPath();
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${clean || chance(0.8) ? 'api.example' : randomString(20)}`];
  for (const [k, v] of cred.headers) lines.push(`${k}: ${v}`);
  lines.push('connection: close');
  // utf8: a header may carry any code point; latin1 would fold it into other bytes.
  return { bytes: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, chance(0.5) ? 'utf8' : 'latin1'), validIdentity: cred.validIdentity, mustAllow: clean };
}

t.test(`fuzz the real sidecar over gRPC and HTTP (FUZZ_SEED=${seed})`, async (t) => {
  const { tokens, jwks } = await mintTokens();
  // Not t.testdir: the sidecar harness owns that one.
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const jwksFile = writeJwksFile(dir, jwks as Parameters<typeof writeJwksFile>[1], 'fuzz-jwks.json');
  const s = await startTestSidecar(t, {
    identity: { jwt: { jwks_file: jwksFile, issuer: ISSUER, audience: AUDIENCE } },
    routes: PROJECT_ROUTES,
  });
  const failures: string[] = [];
  const note = (msg: string) => {
    if (failures.length < 20) failures.push(msg);
  };

  // gRPC: a few HTTP/2 connections, many streams in flight.
  const sessions: http2.ClientHttp2Session[] = Array.from({ length: 3 }, () => connect(s.sidecar.ports.grpc!));
  t.teardown(() => { for (const x of sessions) x.close(); });
  let grpcAllowed = 0;
  let grpcClean = 0;
  let next = 0;
  const grpcWorker = async (w: number): Promise<void> => {
    while (next < GRPC_TOTAL) {
      const i = next++;
      const c = randomGrpcCase(tokens);
      const res = await rawCall(sessions[w % sessions.length]!, CHECK_PATH, frame(c.body));
      if (res.grpcStatus !== 0) {
        note(`grpc #${i}: grpc-status ${res.grpcStatus} ${res.grpcMessage} (a read failure must be a CheckResponse deny)`);
        continue;
      }
      let msg: CheckResponseObject;
      try {
        msg = CheckResponseType.toObject(CheckResponseType.decode(unframe(res.body)), { enums: Number }) as CheckResponseObject;
      } catch (err) {
        note(`grpc #${i}: not a CheckResponse: ${(err as Error).message}`);
        continue;
      }
      if (c.mustAllow) grpcClean++;
      if ((msg.status?.code ?? 0) === 0) {
        grpcAllowed++;
        if (!c.validIdentity) note(`grpc #${i}: OK without exactly one valid token: ${c.describe}`);
        if (msg.okResponse === undefined) note(`grpc #${i}: OK without ok_response`);
      } else {
        if (c.mustAllow) note(`grpc #${i}: clean request denied: ${msg.status?.message}: ${c.describe}`);
        const status = msg.deniedResponse?.status?.code ?? 0;
        if (![400, 401, 403, 429, 503].includes(status)) note(`grpc #${i}: denied_response status ${status}`);
        try {
          const body = JSON.parse(msg.deniedResponse?.body ?? '') as { reason?: unknown; decision_id?: unknown };
          if (typeof body.reason !== 'string') note(`grpc #${i}: deny body without a reason: ${msg.deniedResponse?.body}`);
        } catch {
          note(`grpc #${i}: deny body is not JSON`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, (_, w) => grpcWorker(w)));

  // HTTP ext_authz: raw HTTP/1.1 requests, a few connections at a time.
  let httpAllowed = 0;
  let httpClean = 0;
  let n = 0;
  const httpWorker = async (): Promise<void> => {
    while (n < HTTP_TOTAL) {
      const i = n++;
      const c = randomHttpRequest(tokens);
      const res = await rawHttp(s.sidecar.ports.http!, c.bytes);
      if (c.mustAllow) httpClean++;
      if (res.status === 200) {
        httpAllowed++;
        if (!c.validIdentity) note(`http #${i}: 200 without exactly one valid token`);
      } else if (res.status === 400 || res.status === 431) {
        // node:http refused the bytes as HTTP before any decision: a well-formed refusal.
        if (c.mustAllow) note(`http #${i}: clean request refused ${res.status}`);
      } else if ([401, 403, 429, 503].includes(res.status)) {
        if (c.mustAllow) note(`http #${i}: clean request denied ${res.status} ${res.body}`);
        try {
          const body = JSON.parse(res.body) as { reason?: unknown };
          if (typeof body.reason !== 'string') note(`http #${i}: deny body without a reason: ${res.body}`);
        } catch {
          note(`http #${i}: deny body is not JSON: ${res.body.slice(0, 80)}`);
        }
      } else {
        note(`http #${i}: unexpected answer ${res.status} (${c.bytes.length} bytes): ${res.head.slice(0, 80)} for ${JSON.stringify(c.bytes.toString('latin1').slice(0, 120))}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, () => httpWorker()));

  t.same(failures, [], `no property violated (FUZZ_SEED=${seed})`);
  t.ok(grpcClean > 0 && grpcAllowed >= grpcClean, `gRPC: clean requests allowed (${grpcAllowed} allowed of ${GRPC_TOTAL})`);
  t.ok(httpClean > 0 && httpAllowed >= httpClean, `HTTP: clean requests allowed (${httpAllowed} allowed of ${HTTP_TOTAL})`);
  // And every port still serves.
  const after = await rawCall(sessions[0]!, CHECK_PATH, frame(Buffer.alloc(0)));
  t.equal(after.grpcStatus, 0, 'gRPC still answers');
  const health = await rawHttp(s.sidecar.ports.admin!, Buffer.from('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
  t.equal(health.status, 200, 'admin still answers');
});

t.test('a CONNECT is answered like any request, not dropped (node:http closes it unless told)', async (t) => {
  const s = await startTestSidecar(t, { routes: PROJECT_ROUTES });
  const token = await s.token();
  // No route takes CONNECT; an authority-form target is no path at all.
  for (const [target, reason] of [['/api/v1/tenants/acme/projects/p1', 'no_route'], ['api.example:443', 'bad_path']] as const) {
    const res = await rawHttp(s.sidecar.ports.http!, Buffer.from(`CONNECT ${target} HTTP/1.1\r\nhost: api.example\r\nauthorization: Bearer ${token}\r\n\r\n`));
    t.equal(res.status, 403, `CONNECT ${target}: denied`);
    t.match(JSON.parse(res.body), { reason }, `with reason ${reason}`);
  }
});
