// A Redis that answers the charge script wrongly (through a proxy in front
// of a real redis-server): a reply of the wrong type or shape, a huge reply,
// or none at all. Each is a fail-closed 503 budget_unavailable, counted, and
// the connection is dropped and made again — never a charge, never gigabytes
// of memory, never another request's answer.
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import type { StageResult } from '../../src/decision/types.js';
import { startRespProxy, type Answer, type Command } from '../support/resp-proxy.js';
import { redisUnavailableReason, startRedisServer, type RedisServer } from '../support/redis-server.js';
import { build, decide, headersOf, TestClock, type Built } from './harness.js';

const skip = redisUnavailableReason();
if (skip !== undefined) console.log(`# skipping hostile Redis budget tests: ${skip}`);

const DAY = Date.parse('2025-03-10T12:00:00Z');
const dayStart = Date.parse('2025-03-10T00:00:00Z');

async function sidecar(t: Test, url: string, timeoutMs = 1000): Promise<Built> {
  const b = build(t, {
    backend: 'redis',
    redis: { url, key_prefix: 'hostile:', timeout_ms: timeoutMs, probe_interval_ms: 50 },
    tenants: { acme: { daily: 100 }, globex: { daily: 60 } },
  }, { clock: new TestClock(DAY) });
  await b.cap.ready();
  return b;
}

const isCharge = (c: Command) => c[0] === 'evalsha' || c[0] === 'eval';

/** The script's nonce (ARGV[1]) in a charge command: evalsha sha numkeys key... nonce ... */
function nonceOf(c: Command): number {
  return Number(c[3 + Number(c[2])]);
}

/**
 * The exact reply for a batch of one charge on one fresh counter (cost 1
 * unit): nonce, 1 group, 1 admitted, none refused, the counter before (0);
 * then the counter's slice (0) and end value. Element `at` is replaced by
 * `element` (raw RESP): all else is right.
 */
function oneChargeReply(c: Command, at: number, element: string): string {
  return changedReply(c, { [at]: element });
}

function changedReply(c: Command, changes: Record<number, string>): string {
  const micro = 1_000_000;
  const parts = [`:${nonceOf(c)}`, ':1', ':1', ':0', ':0', ':0', `:${micro}`];
  for (const [at, element] of Object.entries(changes)) parts[Number(at)] = element;
  return `*${parts.length}\r\n${parts.join('\r\n')}\r\n`;
}

async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let redis: RedisServer;
t.before(async () => {
  if (skip === undefined) redis = await startRedisServer(t);
});

const wrongShapes: Array<[string, (c: Command) => string, string]> = [
  ['the bulk string "0" where the verdict belongs (Redis\'s own refusal, as a string)', (c) => oneChargeReply(c, 2, '$1\r\n0'), 'malformed'],
  ['a null bulk string for a counter', (c) => oneChargeReply(c, 4, '$-1'), 'malformed'],
  ['a null array for a counter', (c) => oneChargeReply(c, 4, '*-1'), 'malformed'],
  ['an error inside the array', (c) => oneChargeReply(c, 2, '-ERR not what you asked'), 'malformed'],
  ['a nested array for a counter', (c) => oneChargeReply(c, 4, '*1\r\n:1000000'), 'malformed'],
  ['a simple string for the nonce', (c) => oneChargeReply(c, 0, `+${nonceOf(c)}`), 'malformed'],
  ['one element too few', (c) => oneChargeReply(c, 6, '').replace(/^\*7/, '*6').replace(/\r\n\r\n$/, '\r\n'), 'malformed'],
  ['an admitted charge whose counter exceeds the limit', (c) => oneChargeReply(c, 4, ':999000000'), 'malformed'],
  ['more charges admitted than the call carried', (c) => oneChargeReply(c, 2, ':2'), 'malformed'],
  ['an end value the admitted charge does not add up to', (c) => oneChargeReply(c, 6, ':3000000'), 'malformed'],
  ['a refusal by a counter with room for the charge', (c) => changedReply(c, { 2: ':0', 3: ':1', 6: ':0' }), 'malformed'],
  ['another call\'s answer (the nonce of the next one)', (c) => oneChargeReply(c, 0, `:${nonceOf(c) + 1}`), 'mismatched'],
  ['a bare integer 1', () => ':1\r\n', 'malformed'],
  ['a RESP3 null for a counter', (c) => oneChargeReply(c, 4, '_'), 'protocol'],
  ['a RESP3 double for a counter', (c) => oneChargeReply(c, 4, ',1000000'), 'protocol'],
  ['a RESP3 big number for a counter', (c) => oneChargeReply(c, 4, '(1000000'), 'protocol'],
  ['a RESP3 boolean for the verdict', (c) => oneChargeReply(c, 2, '#t'), 'protocol'],
  ['a RESP3 map of the right integers', (c) => oneChargeReply(c, 0, `:${nonceOf(c)}`).replace(/^\*7/, '%4').replace(/\r\n$/, '\r\n:0\r\n'), 'protocol'],
];

for (const [what, reply, why] of wrongShapes) {
  t.test(`charge reply with ${what}: 503 budget_unavailable, counted (${why}), connection made again`, { skip }, async (t) => {
    const proxy = await startRespProxy(t, redis.port, (c): Answer => (isCharge(c) ? { kind: 'replace', bytes: reply(c) } : { kind: 'pass' }));
    const b = await sidecar(t, proxy.url);
    const r = await decide(b.stage({ cost: 1 }));
    t.match(r, { kind: 'deny', status: 503, reason: 'budget_unavailable' }, 'never a charge');
    t.match(r.ctx.annotations.budget, { unavailable: true });
    t.match(await b.metrics.registry.metrics(), new RegExp(`authz_budget_redis_replies_refused_total\\{why="${why}"\\} 1`));
    await eventually('a new connection', () => proxy.connections >= 2);
  });
}

/** RSS of this process grows by less than this while a flood is refused (the finding: 1.4-2.2 GB). */
const RSS_BOUND = 200 * 1024 * 1024;

const floods: Array<[string, Extract<Answer, { kind: 'flood' }>]> = [
  ['a 1 GiB bulk string', { kind: 'flood', header: '$1073741824\r\n', chunk: Buffer.alloc(64 * 1024, 0x78), limitBytes: 256 * 1024 * 1024 }],
  ['a 50 M-element array', { kind: 'flood', header: '*50000000\r\n', chunk: Buffer.from(':1\r\n'.repeat(16 * 1024)), limitBytes: 200 * 1024 * 1024 }],
  ['a simple string that never ends', { kind: 'flood', header: '+', chunk: Buffer.alloc(64 * 1024, 0x61), limitBytes: 256 * 1024 * 1024 }],
];

for (const [what, flood] of floods) {
  t.test(`charge reply with ${what}: refused within max_reply_bytes, the connection cut, 503`, { skip }, async (t) => {
    const proxy = await startRespProxy(t, redis.port, (c): Answer => (isCharge(c) ? flood : { kind: 'pass' }));
    const b = await sidecar(t, proxy.url, 5000);
    const rssBefore = process.memoryUsage().rss;
    const r = await decide(b.stage({ cost: 1 }));
    t.match(r, { kind: 'deny', status: 503, reason: 'budget_unavailable' });
    await eventually('the sidecar hung up on the flood', () => proxy.floodsCutShort === 1);
    const grew = process.memoryUsage().rss - rssBefore;
    t.ok(grew < RSS_BOUND, `RSS grew ${(grew / 1048576).toFixed(1)} MiB (bound ${RSS_BOUND / 1048576} MiB)`);
    t.ok(proxy.floodedBytes < 64 * 1024 * 1024, `the proxy got ${(proxy.floodedBytes / 1048576).toFixed(1)} MiB out before the sidecar hung up`);
    t.match(await b.metrics.registry.metrics(), /authz_budget_redis_replies_refused_total\{why="oversized"\} 1/);
  });
}

t.test('a reply that never arrives does not shift reply matching: each decision reads its own tenant\'s counter', { skip }, async (t) => {
  let swallowed = false;
  const proxy = await startRespProxy(t, redis.port, (c): Answer => {
    if (isCharge(c) && !swallowed) {
      swallowed = true;
      return { kind: 'swallow' };
    }
    return { kind: 'pass' };
  });
  const b = await sidecar(t, proxy.url, 300);
  const acme = b.stage({ cost: 1 });
  const globex = b.stage({ cost: 50 });
  // The first charge's reply is swallowed; more charges are in flight behind it.
  const first = decide(acme);
  await eventually('the first charge was sent', () => swallowed);
  const behind = await Promise.all([decide(acme), decide(globex, { tenant: 'globex' }), decide(acme)]);
  const all: StageResult[] = [await first, ...behind];
  const direct = new Redis(redis.url);
  t.teardown(() => direct.disconnect());
  const counter = async (tenant: string) => Number(await direct.get(`hostile:{${tenant}}:daily:${dayStart}`)) / 1e6;
  // Whatever was allowed shows its own tenant's budget, never the other's:
  // acme spends 1 at a time from 100, globex 50 from 60.
  const tenants = ['acme', 'acme', 'globex', 'acme'];
  all.forEach((r, i) => {
    if (r.kind !== 'allow') {
      t.match(r, { kind: 'deny', reason: 'budget_unavailable' });
      return;
    }
    const left = Number(headersOf(r)['x-budget-remaining-daily']);
    if (tenants[i] === 'acme') t.ok(left >= 96 && left <= 99, `an allowed acme decision shows acme's remaining budget (${left})`);
    else t.equal(left, 10, 'the allowed globex decision shows globex\'s remaining budget');
  });
  // Afterwards, on a connection made again, every answer is its own.
  await eventually('allowed again', async () => (await decide(acme)).kind === 'allow');
  const before = await counter('acme');
  const r = await decide(acme);
  t.equal(r.kind, 'allow');
  t.equal(Number(headersOf(r)['x-budget-remaining-daily']), 100 - (before + 1), 'the remaining budget is acme\'s own counter');
  const g = await decide(globex, { tenant: 'globex' });
  const gCounter = await counter('globex');
  if (g.kind === 'allow') t.equal(Number(headersOf(g)['x-budget-remaining-daily']), 60 - gCounter, 'globex reads its own counter');
  else t.match(g, { reason: 'budget_exhausted' }, 'globex is refused on its own counter');
  t.ok(proxy.connections >= 2, 'the connection whose reply was in doubt was dropped and made again');
  t.match(await b.metrics.registry.metrics(), /authz_budget_redis_errors_total\{op="charge"\} [1-9]/);
});
