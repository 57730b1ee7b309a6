// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self and total
// (inclusive) time per function, as a share of the samples the process spent
// busy. Idle samples are left out of the denominator: the question is where
// the *work* goes. Functions V8 inlined count towards their caller's self time.
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Top `limit` functions by self time and by total time:
 * { busy_samples, total_samples, top: [{ fn, where, self_pct, total_pct, samples }], topTotal: [...] }.
 */
export function summarizeProfile(file, limit = 10) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samplesAt = new Map();
  for (const id of profile.samples) samplesAt.set(id, (samplesAt.get(id) ?? 0) + 1);

  const self = new Map();
  const total = new Map();
  let busy = 0;
  for (const [id, count] of samplesAt) {
    if (byId.get(id).callFrame.functionName === '(idle)') continue;
    busy += count;
    const leaf = keyOf(byId.get(id).callFrame);
    self.set(leaf, (self.get(leaf) ?? 0) + count);
    // Each function on the stack once, however often it recurses.
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const key = keyOf(byId.get(n).callFrame);
      if (key === '(root)\t' || seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + count);
    }
  }
  const row = (key) => {
    const [fn, where] = key.split('\t');
    const pct = (x) => Number(((100 * (x ?? 0)) / busy).toFixed(1));
    return { fn, where, self_pct: pct(self.get(key)), total_pct: pct(total.get(key)), samples: self.get(key) ?? 0 };
  };
  const top = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([key]) => row(key));
  return { busy_samples: busy, total_samples: profile.samples.length, top: top(self), topTotal: top(total) };
}

function keyOf(frame) {
  const where = frame.url ? `${shorten(frame.url)}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}\t${where}`;
}

/** node:internal/… stays as is; files become paths from node_modules/ or dist/. */
function shorten(url) {
  const p = url.startsWith('file://') ? new URL(url).pathname : url;
  const nm = p.lastIndexOf('/node_modules/');
  if (nm >= 0) return p.slice(nm + 1);
  const dist = p.lastIndexOf('/dist/');
  if (dist >= 0) return p.slice(dist + 1);
  return p.includes('/') && !p.startsWith('node:') ? path.basename(p) : p;
}
