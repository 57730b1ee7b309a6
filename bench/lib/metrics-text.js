// Reads counters from the sidecar's admin /metrics (Prometheus text format).
// The load generators only see HTTP status; what the sidecar did — budget
// charges and refusals, audit events emitted and delivered — is in its own
// counters, so the capability scenarios check those.

/** The admin /metrics text of a sidecar. */
export async function fetchMetrics(adminPort) {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`/metrics on :${adminPort} answered ${res.status}`);
  return res.text();
}

/**
 * Sum of every sample of `name` (all label sets) whose labels include
 * `where` (e.g. { sink: 'kafka' }); 0 when the metric has no samples yet.
 */
export function sumMetric(text, name, where = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue; // another metric with this prefix
    const labels = rest[0] === '{' ? rest.slice(1, rest.indexOf('}')) : '';
    if (!Object.entries(where).every(([k, v]) => labels.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** `names` → their sums in one scrape's text. */
export function countersFrom(text, names) {
  return Object.fromEntries(Object.entries(names).map(([key, [name, where]]) => [key, sumMetric(text, name, where)]));
}

/** `names` → their sums, read from one scrape. */
export async function readCounters(adminPort, names) {
  return countersFrom(await fetchMetrics(adminPort), names);
}

/**
 * Where a tail comes from, from two scrapes around a scenario (warm-up
 * included): the server's event-loop delay (prom-client's
 * monitorEventLoopDelay histogram, which every scrape reads and resets — so
 * `after` must be the first scrape once the load stops; its samples are
 * taken every 10 ms, so a value is that interval plus the delay) and its GC
 * pauses (nodejs_gc_duration_seconds, cumulative).
 */
export function eventLoopFields(before, after, seconds) {
  const ms = (name) => Number((sumMetric(after, name) * 1000).toFixed(2));
  const delta = (name) => sumMetric(after, name) - sumMetric(before, name);
  return {
    event_loop_delay_p99_ms: ms('nodejs_eventloop_lag_p99_seconds'),
    event_loop_delay_max_ms: ms('nodejs_eventloop_lag_max_seconds'),
    gc_ms_per_s: Number(((delta('nodejs_gc_duration_seconds_sum') * 1000) / seconds).toFixed(2)),
    gc_pauses_per_s: Number((delta('nodejs_gc_duration_seconds_count') / seconds).toFixed(1)),
  };
}
