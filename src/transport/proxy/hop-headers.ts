// Which headers a proxy must not forward (RFC 9110 §7.6.1): the hop-by-hop
// fields, plus every field the Connection header names for this hop.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/** The lower-case field names a message's own `Connection` header lists (`close`, `x-foo`…). */
export function connectionListed(connection: string | string[] | undefined): Set<string> {
  const listed = new Set<string>();
  if (connection === undefined) return listed;
  for (const value of Array.isArray(connection) ? connection : [connection]) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') listed.add(name);
    }
  }
  return listed;
}

export function isHopByHop(name: string, listed: ReadonlySet<string>): boolean {
  return HOP_BY_HOP.has(name) || listed.has(name);
}
