// PLACEHOLDER — replaced by the request/ implementation (Envoy-style normalization).
export type NormalizedPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/** Normalize a request path (no query string) the way Envoy does before routing. */
export function normalizePath(raw: string): NormalizedPath {
  return raw.startsWith('/') ? { ok: true, path: raw } : { ok: false, reason: 'bad_path' };
}
