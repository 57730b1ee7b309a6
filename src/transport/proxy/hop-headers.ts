// Which headers a proxy must not forward (RFC 9110 §7.6.1): the hop-by-hop
// fields, plus every field the Connection header names for this hop.
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

const NONE_LISTED: ReadonlySet<string> = new Set();

/**
 * The lower-case field names a message's own `Connection` header lists
 * (`close`, `x-foo`…), beyond the hop-by-hop fields themselves. Nearly every
 * message has no Connection header or only `keep-alive`: those get one shared
 * empty set, so the usual request allocates nothing here.
 */
export function connectionListed(connection: string | undefined): ReadonlySet<string> {
  if (connection === undefined) return NONE_LISTED;
  let listed: Set<string> | undefined;
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || HOP_BY_HOP.has(name)) continue;
    (listed ??= new Set()).add(name);
  }
  return listed ?? NONE_LISTED;
}
