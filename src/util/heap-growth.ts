// How far V8 lets the old generation grow past what the last full GC kept
// before it collects again (`runtime.heap_growing_percent`).
//
// Why a sidecar sets it: V8's own factor (1.1–4×, chosen for throughput)
// lets the old generation reach 140–180 MB between collections under load,
// and node:http2 makes every request header value not in HPACK's static
// table an external string allocated straight in the old generation, freed
// only by a mark-compact. The pause then grows with the time between
// collections (tens of ms of it finalizing those strings), and so does the
// resident memory a container limit must hold. A smaller factor collects
// more often, with shorter pauses and a lower peak, for some more marking
// work on V8's helper threads (docs/performance.md has the measurements).
import { setFlagsFromString } from 'node:v8';

let applied: number | null = null;

/**
 * Sets V8's heap growing factor to 1 + percent/100 for the rest of the
 * process (V8 reads it each time it sizes the next collection's limit);
 * null leaves V8's own. Returns the value in force.
 */
export function applyHeapGrowth(percent: number | null): number | null {
  if (percent === null || percent === applied) return applied;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  applied = percent;
  return applied;
}
