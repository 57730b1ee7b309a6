// runtime.heap_growing_percent: the V8 setting really changes how often the
// old generation is collected. A child process promotes ~250 MB of
// medium-lived objects while holding ~24 MB live, and counts its full
// (mark-compact) collections, with V8's own factor and with 10 %.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';

const HEAP_GROWTH = fileURLToPath(new URL('../../src/util/heap-growth.ts', import.meta.url));

const CHILD = `
import { PerformanceObserver, constants } from 'node:perf_hooks';
const { applyHeapGrowth } = await import(${JSON.stringify(HEAP_GROWTH)});
const percent = process.env.HEAP_GROWING_PERCENT === undefined ? null : Number(process.env.HEAP_GROWING_PERCENT);
applyHeapGrowth(percent);
let majors = 0;
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
}).observe({ entryTypes: ['gc'] });
const live = Array.from({ length: 300_000 }, (_, i) => ({ i, s: 'x'.repeat(40) + i }));
// Each object survives ~200k later allocations: long enough to be promoted, then garbage.
const ring = new Array(200_000);
for (let i = 0; i < 5_000_000; i++) ring[i % ring.length] = { i, a: [i, i + 1, i + 2] };
setTimeout(() => console.log(JSON.stringify({ majors, live: live.length, ring: ring.length })), 50);
`;

function majorCollections(percent: number | null): number {
  const env = { ...process.env };
  if (percent === null) delete env.HEAP_GROWING_PERCENT;
  else env.HEAP_GROWING_PERCENT = String(percent);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { encoding: 'utf8', timeout: 60_000, env });
  if (r.status !== 0) throw new Error(`child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { majors: number }).majors;
}

t.test('a small growing factor collects the old generation far more often than V8 would', async (t) => {
  const own = majorCollections(null);
  const small = majorCollections(10);
  t.ok(small >= 3 * Math.max(1, own), `mark-compacts: V8's own factor ${own}, heap_growing_percent 10: ${small}`);
});

t.test('runtime.heap_growing_percent: off by default, bounded', async (t) => {
  t.equal(parseConfig({}).config.runtime.heap_growing_percent, null, "V8's own factor unless configured");
  t.equal(parseConfig({ runtime: { heap_growing_percent: 30 } }).config.runtime.heap_growing_percent, 30);
  t.throws(() => parseConfig({ runtime: { heap_growing_percent: 0 } }), /runtime\.heap_growing_percent/);
  t.throws(() => parseConfig({ runtime: { heap_growing_percent: 12.5 } }), /runtime\.heap_growing_percent/);
  t.throws(() => parseConfig({ runtime: { other: 1 } }), /runtime/);
});
