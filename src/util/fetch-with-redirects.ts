// GET with redirects followed by hand, so that where a request may go and
// what it carries there are ours to decide, not fetch's: a redirect to
// another origin (scheme, host or port) is refused unless the caller allows
// it, and even then the caller's credentials (configured headers, bearer
// tokens) are sent to the origin the operator configured and nowhere else.
// fetch's own `redirect: 'follow'` would send every header to wherever the
// server points.

export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface RedirectPolicy {
  /** Follow a redirect to another origin (without credentials). Default: refuse it. */
  readonly crossOrigin: boolean;
}

export interface GetOptions {
  /** Headers any server may see (accept, if-none-match). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Headers only the configured origin may see. */
  readonly credentials?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export class RedirectRefused extends Error {
  override readonly name = 'RedirectRefused';
}

export async function getFollowingRedirects(url: string, opts: GetOptions, policy: RedirectPolicy): Promise<Response> {
  const origin = new URL(url).origin;
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const sameOrigin = current.origin === origin;
    const headers = sameOrigin ? { ...opts.headers, ...opts.credentials } : { ...opts.headers };
    const res = await fetch(current, { headers, signal: opts.signal, redirect: 'manual' });
    if (!REDIRECT_STATUSES.has(res.status)) return res;
    await res.body?.cancel();
    const location = res.headers.get('location');
    if (location === null) throw new RedirectRefused(`HTTP ${res.status} without a Location header`);
    if (hop + 1 > MAX_REDIRECTS) throw new RedirectRefused(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new RedirectRefused(`redirect to a ${next.protocol} URL refused`);
    if (next.origin !== origin && !policy.crossOrigin) {
      throw new RedirectRefused(`redirect to another origin (${next.origin}) refused; allow it with cross_origin_redirects`);
    }
    current = next;
  }
}
