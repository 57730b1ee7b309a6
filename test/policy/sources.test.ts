// Where bundles come from: a watched file, a watched directory, an HTTP
// bundle server (ETag / If-None-Match, 304, backoff after errors). New
// bundles replace old ones atomically; broken ones leave the last good one.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StageResult } from '../../src/decision/types.js';
import { backoffMs } from '../../src/policy/sources/backoff.js';
import type { PollOutcome } from '../../src/policy/sources/http-poller.js';
import { authzRequest } from '../support/principals.js';
import {
  STANDIN_ENTRYPOINTS as EP,
  bundleTarball,
  capabilityUnderTest,
  decisionContext,
  metricValue,
  policyStage,
  standinWasm,
  tempDir,
  until,
  writeBundleDir,
} from './helpers.js';

async function tarballBytes(root: string, revision: string): Promise<Buffer> {
  const file = await bundleTarball(root, revision, { wasm: await standinWasm(), manifest: { revision } });
  return readFileSync(file);
}

/** Replaces a file the way deployment tools do: write aside, then rename over. */
function replaceFile(path: string, bytes: Uint8Array): void {
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

t.test('a watched file: new versions swap in, a broken one keeps the last good', async (t) => {
  const root = tempDir(t);
  const path = join(root, 'bundle.tar.gz');
  replaceFile(path, await tarballBytes(root, 'r1'));
  const { cap, registry } = capabilityUnderTest(t, { bundle: { file: path, watch_interval_ms: 20 } });
  await cap.ready();
  t.equal(cap.revision(), 'r1');

  replaceFile(path, await tarballBytes(root, 'r2'));
  await until(() => cap.revision() === 'r2', 5000, 'r2');

  replaceFile(path, Buffer.from('this is not a bundle'));
  await until(async () => (await metricValue(registry, 'authz_policy_bundle_loads_total', { outcome: 'failure' })) >= 1, 5000,
    'a refused load');
  t.equal(cap.revision(), 'r2', 'the last good bundle stays');
  const stage = policyStage(cap);
  t.same(stage.evaluate(authzRequest(), decisionContext('read')), { kind: 'allow' }, 'and serves');

  replaceFile(path, await tarballBytes(root, 'r3'));
  await until(() => cap.revision() === 'r3', 5000, 'r3');
  t.equal(await metricValue(registry, 'authz_policy_bundle_loads_total', { outcome: 'success' }), 3);
  t.equal(await metricValue(registry, 'authz_policy_bundle_loads_total', { outcome: 'failure' }), 1);
});

t.test('a watched directory (policy.wasm + data.json, no manifest)', async (t) => {
  const root = tempDir(t);
  const dir = writeBundleDir(join(root, 'bundle'), { wasm: await standinWasm(), files: { 'data.json': { v: 1 } } });
  const { cap } = capabilityUnderTest(t, { bundle: { dir, watch_interval_ms: 20 } });
  await cap.ready();
  const first = cap.revision();
  t.match(first, /^sha256:/);
  const dataOf = () => {
    const ev = cap.current!.evaluator;
    return ev.evaluate(ev.entrypointId(EP.data)!, {});
  };
  t.same(dataOf(), [{ result: { v: 1 } }]);
  replaceFile(join(dir, 'data.json'), Buffer.from(JSON.stringify({ v: 2 })));
  await until(() => cap.revision() !== first, 5000, 'the new directory contents');
  t.same(dataOf(), [{ result: { v: 2 } }]);
});

t.test('hot swap under load: no decision fails while bundles change', async (t) => {
  const root = tempDir(t);
  const path = join(root, 'bundle.tar.gz');
  const versions = await Promise.all(['v1', 'v2', 'v3', 'v4', 'v5'].map((r) => tarballBytes(root, r)));
  replaceFile(path, versions[0]!);
  const { cap } = capabilityUnderTest(t, { bundle: { file: path, watch_interval_ms: 5 } });
  await cap.ready();
  const stage = policyStage(cap);

  let decisions = 0;
  const bad: StageResult[] = [];
  const seen = new Set<unknown>();
  let running = true;
  const load = new Promise<void>((resolve) => {
    const burst = (): void => {
      for (let i = 0; i < 200; i++) {
        const ctx = decisionContext('read');
        const r = stage.evaluate(authzRequest(), ctx) as StageResult;
        decisions++;
        seen.add(ctx.annotations.policy_revision);
        if (r.kind !== 'allow') bad.push(r);
      }
      if (running) setImmediate(burst);
      else resolve();
    };
    burst();
  });
  for (const [i, bytes] of versions.entries()) {
    if (i === 0) continue;
    replaceFile(path, bytes);
    await until(() => cap.revision() === `v${i + 1}`, 10_000, `v${i + 1}`);
  }
  running = false;
  await load;
  t.same(bad, [], `every one of ${decisions} decisions allowed`);
  t.ok(seen.size >= 2, `decisions saw several revisions (${[...seen].join(', ')})`);
  t.ok([...seen].every((r) => typeof r === 'string' && /^v[1-5]$/.test(r)), 'and only real ones');
});

interface BundleServer {
  url: string;
  requests: Array<{ ifNoneMatch: string | undefined; authorization: string | undefined }>;
  serve(next: { status: number; body?: Uint8Array; etag?: string }): void;
}

async function bundleServer(t: Parameters<typeof tempDir>[0]): Promise<BundleServer> {
  let current: { status: number; body?: Uint8Array; etag?: string } = { status: 404 };
  const requests: BundleServer['requests'] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const ifNoneMatch = req.headers['if-none-match'];
    requests.push({ ifNoneMatch, authorization: req.headers.authorization });
    if (current.status === 200 && current.etag !== undefined && ifNoneMatch === current.etag) {
      res.writeHead(304, { etag: current.etag }).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/gzip' };
    if (current.etag) headers.etag = current.etag;
    res.writeHead(current.status, headers).end(current.body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/bundles/authz.tar.gz`, requests, serve: (n) => (current = n) };
}

t.test('an HTTP bundle server: ETag, 304, backoff after errors, keep last good', async (t) => {
  const root = tempDir(t);
  const server = await bundleServer(t);
  server.serve({ status: 200, body: await tarballBytes(root, 'h1'), etag: '"e1"' });
  const attempts: Array<{ outcome: PollOutcome; delay: number }> = [];
  const { cap, registry } = capabilityUnderTest(t, {
    bundle: { url: server.url, polling: { min_delay_s: 0.01, max_delay_s: 2 }, bearer_token_env: 'BUNDLE_TOKEN' },
  }, {
    random: () => 0, // no jitter: delays are exactly the schedule
    env: { BUNDLE_TOKEN: 's3cret' },
    onPollAttempt: (outcome, delay) => attempts.push({ outcome, delay }),
  });
  await cap.ready();
  t.equal(cap.revision(), 'h1');
  t.equal(server.requests[0]?.ifNoneMatch, undefined, 'the first request has no ETag');
  t.equal(server.requests[0]?.authorization, 'Bearer s3cret', 'the bearer token is sent');

  await until(() => attempts.filter((a) => a.outcome === 'not_modified').length >= 2, 5000, 'polls answered 304');
  t.ok(server.requests.slice(1).every((r) => r.ifNoneMatch === '"e1"'), 'later polls send If-None-Match');
  t.equal(attempts.find((a) => a.outcome === 'not_modified')?.delay, 10, 'a good poll waits min_delay (random = 0)');

  server.serve({ status: 200, body: await tarballBytes(root, 'h2'), etag: '"e2"' });
  await until(() => cap.revision() === 'h2', 5000, 'h2');

  const before = attempts.length;
  server.serve({ status: 500 });
  // A poll already answered before the switch may still be recorded after it: count errors only.
  const failedPolls = () => attempts.slice(before).filter((a) => a.outcome === 'error');
  await until(() => failedPolls().length >= 3, 5000, 'three failed polls');
  const errors = failedPolls().slice(0, 3);
  t.same(errors.map((a) => a.delay), [backoffMs(0, 2000, () => 0), backoffMs(1, 2000, () => 0), backoffMs(2, 2000, () => 0)],
    'exponential backoff: 80, 128, 205 ms');
  t.ok(errors[0]!.delay < errors[1]!.delay && errors[1]!.delay < errors[2]!.delay, 'growing');
  t.equal(cap.revision(), 'h2', 'the last good bundle stays while the server fails');
  t.same(policyStage(cap).evaluate(authzRequest(), decisionContext('read')), { kind: 'allow' });

  const afterErrors = server.requests.length;
  server.serve({ status: 200, body: Buffer.from('corrupt'), etag: '"e3"' });
  await until(() => server.requests.length > afterErrors, 5000, 'a poll after the errors');
  t.equal(server.requests[afterErrors]?.ifNoneMatch, undefined, 'after an error the ETag is forgotten');
  await until(async () => (await metricValue(registry, 'authz_policy_bundle_loads_total', { outcome: 'failure' })) >= 1, 5000,
    'the corrupt bundle refused and counted');
  t.equal(cap.revision(), 'h2', 'a corrupt bundle is refused; the last good one stays');

  server.serve({ status: 200, body: await tarballBytes(root, 'h3'), etag: '"e3b"' });
  await until(() => cap.revision() === 'h3', 10_000, 'recovery with h3');
  const activatedH3 = attempts.length;
  await until(() => attempts.length > activatedH3 || attempts.at(-1)?.outcome === 'activated', 5000, 'the attempt that activated h3');
  t.equal(attempts.findLast((a) => a.outcome === 'activated')?.delay, 10,
    'after a success the next poll is a polling delay again, not a backoff');
});

t.test('an HTTP source that never answers: not ready, and ready() gives up with the last error', async (t) => {
  const server = await bundleServer(t);
  server.serve({ status: 503 });
  const { cap } = capabilityUnderTest(t, {
    bundle: { url: server.url, polling: { min_delay_s: 0.01, max_delay_s: 0.05 } },
    ready_timeout_ms: 300,
  });
  await t.rejects(cap.ready(), /no policy bundle from .* within 300 ms: bundle server replied 503/);
  t.notOk(cap.isReady());
});

t.test('a reload prepares a new source; only commit swaps it in', async (t) => {
  const root = tempDir(t);
  const a = join(root, 'a.tar.gz');
  const b = join(root, 'b.tar.gz');
  replaceFile(a, await tarballBytes(root, 'ra'));
  replaceFile(b, await tarballBytes(root, 'rb'));
  const { cap } = capabilityUnderTest(t, { bundle: { file: a, watch_interval_ms: 0 } });
  await cap.ready();
  await t.rejects(cap.prepare({ bundle: { file: join(root, 'nope.tar.gz') } }), /nope\.tar\.gz/);
  t.equal(cap.revision(), 'ra', 'a failing new source is refused and the old one serves');
  const aborted = await cap.prepare({ bundle: { file: b, watch_interval_ms: 0 } });
  t.equal(cap.revision(), 'ra', 'a prepared source is loaded but not in use');
  aborted.abort();
  t.equal(cap.revision(), 'ra', 'an aborted source never serves');
  (await cap.prepare({ bundle: { file: b, watch_interval_ms: 0 } })).commit();
  t.equal(cap.revision(), 'rb');
  t.match(cap.status(), { state: 'ok', details: { revision: 'rb' } });
  await t.rejects(cap.prepare({ bundle: {} }), /exactly one/);
});
