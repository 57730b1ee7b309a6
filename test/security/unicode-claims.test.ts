// Issue 9, finding 1: a validly signed token whose `sub` or a role holds
// characters outside Latin-1 (CJK, emoji) or CR/LF made the HTTP answer throw
// ERR_INVALID_CHAR in writeHead and the process exit, taking every port down.
// Now every value that goes into a header is percent-encoded UTF-8
// (transport/header-value.ts): reversible with decodeURIComponent, visible ASCII
// on the wire. Real sidecar, real HTTP, real gRPC, the real inline proxy.
import t, { type Test } from 'tap';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { AuthzClient, envoyCheckRequest, headerRecord } from '../support/grpc-client.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

const PATH = '/api/v1/tenants/acme/projects/web';
const VISIBLE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/;

/** What a header carrying `text` decodes back to: the text, with lone surrogates (no UTF-8 for them) as U+FFFD. */
const roundTrip = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');

const HOSTILE: ReadonlyArray<{ name: string; sub: string; roles: string[] }> = [
  { name: 'CJK and emoji', sub: '大谷翔平 🎌', roles: ['editor', '管理者'] },
  { name: 'CR/LF header injection', sub: 'alice\r\nx-authz-tenant: globex', roles: ['editor', 'admin\nx-evil: 1'] },
  { name: 'control characters and %', sub: 'a\u0000b\u007f%41\t', roles: ['editor'] },
  { name: 'Latin-1 above 0x7f', sub: 'Zoë Ångström', roles: ['editor', 'rédacteur'] },
  { name: 'lone surrogate and spaces at the ends', sub: ' x\ud800y ', roles: ['editor'] },
];

async function upstreamRecorder(t: Test): Promise<{ port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => upstream.close());
  return { port: (upstream.address() as AddressInfo).port, seen };
}

async function startAll(t: Test): Promise<{ s: TestSidecar; seen: IncomingHttpHeaders[]; grpc: AuthzClient }> {
  const { port, seen } = await upstreamRecorder(t);
  const loopback = { host: '127.0.0.1', port: 0 };
  const s = await startTestSidecar(t, {
    server: { grpc: loopback, http: loopback, admin: loopback,
      proxy: { enabled: true, host: '127.0.0.1', port: 0, upstream: `http://127.0.0.1:${port}` } },
  });
  const grpc = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => grpc.close());
  return { s, seen, grpc };
}

async function stillServing(t: Test, s: TestSidecar, grpc: AuthzClient): Promise<void> {
  const health = await request(s.url('admin', '/healthz'));
  t.equal(health.statusCode, 200, 'admin still answers');
  await health.body.dump();
  const anon = await request(s.url('http', '/healthz'));
  t.equal(anon.statusCode, 200, 'HTTP ext_authz still answers');
  await anon.body.dump();
  const check = await grpc.check(envoyCheckRequest({ path: '/healthz' }));
  t.equal(check.error, undefined, 'gRPC still answers');
  t.equal(check.response?.status?.code ?? 0, 0);
}

t.test('hostile claims are encoded, never thrown, on every transport', async (t) => {
  const { s, seen, grpc } = await startAll(t);
  for (const c of HOSTILE) {
    const token = await s.token({ sub: c.sub, roles: c.roles });
    const auth = { authorization: `Bearer ${token}` };

    const http = await request(s.url('http', PATH), { headers: auth });
    t.equal(http.statusCode, 200, `${c.name}: HTTP allows`);
    await http.body.dump();
    const principal = http.headers['x-authz-principal'] as string;
    t.match(principal, VISIBLE, `${c.name}: HTTP header is visible ASCII`);
    t.equal(decodeURIComponent(principal), roundTrip(c.sub), `${c.name}: HTTP principal decodes back`);
    t.equal(decodeURIComponent(http.headers['x-authz-roles'] as string), roundTrip(c.roles.join(',')));
    t.equal(http.headers['x-authz-tenant'], 'acme', `${c.name}: an injected CR/LF line is not a header`);

    const res = await grpc.check(envoyCheckRequest({ path: PATH, host: 'acme.example', headers: auth }));
    t.equal(res.error, undefined, `${c.name}: gRPC answers`);
    t.equal(res.response?.status?.code ?? 0, 0, `${c.name}: gRPC allows`);
    const up = headerRecord(res.response?.okResponse?.headers);
    t.match(up['x-authz-principal'], VISIBLE);
    t.equal(decodeURIComponent(up['x-authz-principal']!), roundTrip(c.sub), `${c.name}: gRPC principal decodes back`);

    const before = seen.length;
    const proxied = await request(s.url('proxy', PATH), { headers: auth });
    t.equal(proxied.statusCode, 200, `${c.name}: the proxy forwards`);
    await proxied.body.dump();
    t.equal(seen.length, before + 1);
    t.equal(decodeURIComponent(seen.at(-1)!['x-authz-principal'] as string), roundTrip(c.sub),
      `${c.name}: the upstream gets the encoded principal`);
    t.equal(seen.at(-1)!['x-evil'], undefined);
  }
  await stillServing(t, s, grpc);
});

/** A small deterministic PRNG (mulberry32): the same cases on every run, a seed to reproduce a failure. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random string drawn from every kind of code point a claim can hold. */
function randomText(rand: () => number): string {
  const ranges: Array<[number, number]> = [
    [0x00, 0x1f], [0x20, 0x7e], [0x7f, 0xff], [0x100, 0x7ff], [0x3040, 0x9fff], [0xd800, 0xdfff], [0xe000, 0xfffd],
    [0x1f300, 0x1faff], [0x10000, 0x10ffff],
  ];
  const length = 1 + Math.floor(rand() * 24);
  let out = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = ranges[Math.floor(rand() * ranges.length)]!;
    out += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return out;
}

t.test('property: random Unicode claims always allow with headers that decode back (HTTP, gRPC, proxy)', async (t) => {
  const { s, seen, grpc } = await startAll(t);
  const seed = Number(process.env.PROPERTY_SEED ?? 20261201);
  const rand = prng(seed);
  t.comment(`seed ${seed} (PROPERTY_SEED=… to reproduce)`);
  for (let i = 0; i < 60; i++) {
    const sub = randomText(rand);
    const role = randomText(rand);
    const token = await s.token({ sub, roles: ['editor', role] });
    const auth = { authorization: `Bearer ${token}` };
    const which = i % 3;
    let principal: string | undefined;
    if (which === 0) {
      const res = await request(s.url('http', PATH), { headers: auth });
      await res.body.dump();
      if (res.statusCode !== 200) t.fail(`HTTP case ${i} answered ${res.statusCode}`);
      principal = res.headers['x-authz-principal'] as string;
    } else if (which === 1) {
      const res = await grpc.check(envoyCheckRequest({ path: PATH, headers: auth }));
      if (res.error !== undefined || (res.response?.status?.code ?? 0) !== 0) t.fail(`gRPC case ${i} did not allow`);
      principal = headerRecord(res.response?.okResponse?.headers)['x-authz-principal'];
    } else {
      const res = await request(s.url('proxy', PATH), { headers: auth });
      await res.body.dump();
      if (res.statusCode !== 200) t.fail(`proxy case ${i} answered ${res.statusCode}`);
      principal = seen.at(-1)?.['x-authz-principal'] as string | undefined;
    }
    // JSON carries the claim; a sub that trims to nothing is still a sub.
    if (principal === undefined || !VISIBLE.test(principal) || decodeURIComponent(principal) !== roundTrip(sub)) {
      t.fail(`case ${i} (${['http', 'grpc', 'proxy'][which]}): ${JSON.stringify(sub)} → ${JSON.stringify(principal)}`);
    }
  }
  t.pass('60 random claims, every one allowed with a decodable header');
  await stillServing(t, s, grpc);
});
