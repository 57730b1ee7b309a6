// Retry delays after a failed bundle download, shaped like OPA's bundle
// downloader: start at 100 ms, multiply by 1.6 per consecutive failure, cap at
// the polling max delay, jitter by ±20% so a fleet does not retry in lockstep.
export const MIN_RETRY_DELAY_MS = 100;
const FACTOR = 1.6;
const JITTER = 0.2;

/** `retries` is the number of failures before this one (0 for the first). */
export function backoffMs(retries: number, maxMs: number, random: () => number = Math.random): number {
  let delay = MIN_RETRY_DELAY_MS;
  for (let r = retries; delay < maxMs && r > 0; r--) delay *= FACTOR;
  if (delay > maxMs) delay = maxMs;
  delay *= 1 + JITTER * (random() * 2 - 1);
  return Math.max(0, Math.round(delay));
}

/** The delay after a good poll: uniform in [min, max], as OPA's polling does. */
export function pollDelayMs(minMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.round(minMs + (maxMs - minMs) * random());
}
