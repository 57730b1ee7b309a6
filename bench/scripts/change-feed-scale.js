#!/usr/bin/env node
// The change feed at fleet scale (issue 15, point 6): a store of 100,000
// tuples behind `fga serve`, the sidecar's remote checker (dist/, in this
// process) with 2,000 decisions cached, then a burst of 10,000 tuple writes
// (100 Write calls of 100) whose last call deletes a tuple behind one cached
// allow. Reports how long after the burst the revoked decision is denied
// (target: within one poll interval), how many polls and pages that took,
// whether every change was read once, and whether the untouched cached
// decisions stayed cached (evictions exact, not a flush).
//
//   npm run build && node bench/scripts/change-feed-scale.js [--tuples 100000] [--burst 10000] [--poll-ms 1000] [--max-pages 1000]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OpenFgaClient } from '@openfga/sdk';
import { Registry } from 'prom-client';
import { startFgaServe } from '../lib/fga-process.js';

const { values } = parseArgs({
  options: {
    tuples: { type: 'string', default: '100000' },
    burst: { type: 'string', default: '10000' },
    'poll-ms': { type: 'string', default: '1000' },
    cached: { type: 'string', default: '2000' },
    // 50 was the fixed bound before issue 15: pass it to see the old behaviour.
    'max-pages': { type: 'string', default: '1000' },
  },
});
const TUPLES = Number(values.tuples);
const BURST = Number(values.burst);
const POLL_MS = Number(values['poll-ms']);
const CACHED = Number(values.cached);
const OUT = fileURLToPath(new URL('../out/feed-scale/', import.meta.url));
const MODEL = fileURLToPath(new URL('../../config/fga/model.fga', import.meta.url));

const { RemoteChecker } = await import('../../dist/rebac/remote/remote-checker.js');
const { RebacMetrics } = await import('../../dist/rebac/metrics.js');
const { parseRebacConfig } = await import('../../dist/rebac/config.js');
const { createLogger } = await import('../../dist/observability/logger.js');

mkdirSync(OUT, { recursive: true });
const tuplesFile = path.join(OUT, 'tuples.json');
const viewer = (i) => ({ user: `user:u-${i % 5000}`, relation: 'viewer', object: `project:p-${i}` });
writeFileSync(tuplesFile, JSON.stringify(Array.from({ length: TUPLES }, (_, i) => viewer(i))));

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.error(`change-feed-scale: ${TUPLES} tuples, burst ${BURST}, poll ${POLL_MS} ms, ${CACHED} cached; load ${load()}`);
const t0 = performance.now();
const fga = await startFgaServe({ model: MODEL, tuples: tuplesFile });
const loadMs = Math.round(performance.now() - t0);
let checker;
try {
  // The file's tuples are in the changelog at load; the feed starts 5 s back. Start after that window.
  await sleep(6000);
  const config = parseRebacConfig({
    mode: 'remote',
    remote: { api_url: fga.apiUrl, store_id: fga.storeId, timeout_ms: 2000, cache: { max: 100_000, allow_ttl_ms: 600_000 }, changes: { poll_ms: POLL_MS, max_pages_per_poll: Number(values['max-pages']) } },
  }).remote;
  const metrics = new RebacMetrics(new Registry());
  checker = new RemoteChecker({ config, log: createLogger('silent'), metrics });
  await checker.ready();
  const far = () => performance.now() + 10_000;
  const check = (i) => ({ user: `user:u-${i % 5000}`, relation: 'can_read', object: `project:p-${i}` });
  const cachedChecks = Array.from({ length: CACHED }, (_, i) => check(i));
  for (let i = 0; i < CACHED; i += 50) {
    const answers = await checker.checkAll(cachedChecks.slice(i, i + 50), far());
    if (answers.some((a) => a !== true)) throw new Error('warm-up: a check that should be allowed was not');
  }
  const revoked = check(7);
  const counter = async (name) => (await metrics[name].get()).values.reduce((s, v) => s + v.value, 0);
  const changesBefore = await counter('changesApplied');
  const pollsBefore = checker.feed.completedPolls;
  const pagesBefore = checker.feed.pagesRead;

  const admin = new OpenFgaClient({ apiUrl: fga.apiUrl, storeId: fga.storeId });
  const burst = Array.from({ length: BURST - 1 }, (_, i) => ({ user: `user:b-${i % 977}`, relation: 'viewer', object: `project:burst-${i}` }));
  const tBurst = performance.now();
  for (let i = 0; i < burst.length; i += 400) {
    await Promise.all([0, 100, 200, 300].map((o) => burst.slice(i + o, i + o + 100)).filter((w) => w.length > 0).map((writes) => admin.write({ writes })));
  }
  await admin.write({ deletes: [viewer(7)] });
  const tEnd = performance.now();
  const pollsAtEnd = checker.feed.completedPolls;

  let revokedAt;
  let maxCachedCheckMs = 0;
  while (performance.now() - tEnd < 30_000) {
    const s = performance.now();
    const hit = checker.checkAll([cachedChecks[1000]], far()); // an untouched decision: still a synchronous hit
    maxCachedCheckMs = Math.max(maxCachedCheckMs, performance.now() - s);
    if (hit instanceof Promise) throw new Error('an untouched cached decision was evicted');
    const answer = await checker.checkAll([revoked], far());
    if (answer[0] === false) {
      revokedAt = performance.now();
      break;
    }
    await sleep(5);
  }
  // Let the feed finish whatever page it is on, then count.
  await sleep(POLL_MS + 200);
  const applied = (await counter('changesApplied')) - changesBefore;
  let stillCached = 0;
  for (const [i, c] of cachedChecks.entries()) if (i !== 7 && !(checker.checkAll([c], far()) instanceof Promise)) stillCached++;
  console.log(JSON.stringify({
    tuples: TUPLES,
    burst: BURST,
    poll_ms: POLL_MS,
    max_pages_per_poll: Number(values['max-pages']),
    fga_load_ms: loadMs,
    burst_write_ms: Math.round(tEnd - tBurst),
    revoked_after_burst_ms: revokedAt === undefined ? null : Math.round(revokedAt - tEnd),
    within_one_poll: revokedAt !== undefined && revokedAt - tEnd <= POLL_MS,
    polls_during_burst: pollsAtEnd - pollsBefore,
    polls_after_burst_until_revoked: checker.feed.completedPolls - pollsAtEnd,
    pages_read: checker.feed.pagesRead - pagesBefore,
    changes_applied: applied,
    every_change_once: applied === BURST,
    cached_untouched_still_cached: `${stillCached}/${CACHED - 1}`,
    max_cached_check_ms_during_catch_up: Number(maxCachedCheckMs.toFixed(3)),
    load_1m: Number(os.loadavg()[0].toFixed(2)),
  }));
} finally {
  await checker?.close();
  await fga.stop();
}
