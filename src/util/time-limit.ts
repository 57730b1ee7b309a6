/**
 * Settles like `p`, unless `ms` pass first: then rejects with `onTimeout()`.
 * The timer is cleared as soon as `p` settles, so a fast answer leaves no
 * timer behind. (It cannot cancel the work behind `p`; callers pass an
 * AbortSignal to the work itself where the API takes one.)
 */
export function timeLimit<T>(p: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  if (ms <= 0) return Promise.reject(onTimeout());
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
