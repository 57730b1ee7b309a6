// Host handling shared by route matching and tenant resolution. Hosts are
// compared without port, case-insensitively and without a trailing root dot,
// so `API.example.com.:8443` and `api.example.com` are the same host.

/** Lower-case host name without port or trailing dot; IPv6 literals keep their brackets. */
export function hostWithoutPort(host: string): string {
  let name = host;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    name = close === -1 ? name : name.slice(0, close + 1);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon !== -1) name = name.slice(0, colon);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name.toLowerCase();
}

/** Whether a (portless, lower-case) host is an IP literal rather than a DNS name. */
export function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

/**
 * Compile a route's host pattern: an exact name, `*.example.com` (any name
 * ending in `.example.com`, like Envoy's suffix wildcard), or `*` for any.
 * Returns undefined for "any host". Throws on a pattern that cannot match.
 */
export function compileHostPattern(pattern: string): ((host: string) => boolean) | undefined {
  const p = pattern.trim().toLowerCase().replace(/\.$/, '');
  if (p === '*') return undefined;
  const fail = (why: string): never => {
    throw new Error(`host pattern "${pattern}": ${why}`);
  };
  if (p === '') fail('empty');
  if (/[/\s]/.test(p)) fail('a host name has no "/" or spaces');
  if (!p.startsWith('[') && p.includes(':')) fail('hosts are compared without port; remove the ":port"');
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    if (suffix.includes('*') || suffix.length < 2) fail('only a leading "*." wildcard is supported');
    return (host) => host.length > suffix.length && host.endsWith(suffix);
  }
  if (p.includes('*')) fail('only a leading "*." wildcard is supported');
  return (host) => host === p;
}

/** A Host value naming more than one host: comma-joined (`a.example, b.example`) or with whitespace inside. */
export function isAmbiguousHost(host: string | undefined): boolean {
  return host !== undefined && /[,\s]/.test(host.trim());
}
