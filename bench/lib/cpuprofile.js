// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per
// function, as a share of the samples the process spent busy. Idle samples
// are left out of the denominator: the question is where the *work* goes.
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Top `limit` functions by self time: [{ fn, where, self_pct, samples }]. */
export function topSelfTime(file, limit = 10) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const samplesAt = new Map();
  for (const id of profile.samples) samplesAt.set(id, (samplesAt.get(id) ?? 0) + 1);
  const byFunction = new Map();
  let busy = 0;
  for (const [id, count] of samplesAt) {
    const frame = byId.get(id).callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += count;
    const where = frame.url ? `${shorten(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'}\t${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + count);
  }
  return {
    busy_samples: busy,
    total_samples: profile.samples.length,
    top: [...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([key, samples]) => {
        const [fn, where] = key.split('\t');
        return { fn, where, self_pct: Number(((100 * samples) / busy).toFixed(1)), samples };
      }),
  };
}

/** node:internal/… stays as is; files become paths relative to the repo's node_modules or dist. */
function shorten(url) {
  const p = url.startsWith('file://') ? new URL(url).pathname : url;
  const nm = p.lastIndexOf('/node_modules/');
  if (nm >= 0) return p.slice(nm + 1);
  const dist = p.lastIndexOf('/dist/');
  if (dist >= 0) return p.slice(dist + 1);
  return p.includes('/') && !p.startsWith('node:') ? path.basename(p) : p;
}
