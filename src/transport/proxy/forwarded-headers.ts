// The headers an allowed request carries to the upstream: the client's, less
// hop-by-hop fields and every header the sidecar owns (identity and budget
// headers are set only by the decision), plus x-forwarded-for/-proto/-host,
// forwarded (RFC 7239) and, when configured, via. A previous hop's forwarding
// headers are appended to only when that hop is a configured trusted proxy;
// from anyone else they are replaced, so a client cannot forge its address.
//
// Both directions are built as flat [name, value, name, value…] lists, which
// undici's dispatch and node:http's writeHead take as they are: one pass over
// the headers the request already has in hand (the AuthzRequest's list for the
// request, undici's raw buffers for the response), no intermediate objects.
import { BlockList, isIPv6 } from 'node:net';
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { util } from 'undici';
import type { AuthzRequest } from '../../decision/types.js';
import { isOwnedHeader } from '../../decision/owned-headers.js';
import { headerValue } from '../header-value.js';
import { connectionListed, HOP_BY_HOP } from './hop-headers.js';

const headerName = util.headerNameToString;

/** Headers as a flat list: name, value, name, value… (names lower-case). */
export type HeaderLines = string[];

/** Parses `trusted_proxies` (addresses and CIDRs) once; throws a clear Error on a bad entry. */
export function trustedProxies(entries: readonly string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIPv6(address ?? '') ? 'ipv6' : 'ipv4';
    try {
      if (bits === undefined) list.addAddress(address!, family);
      else list.addSubnet(address!, Number(bits), family);
    } catch {
      throw new Error(`server.proxy.trusted_proxies: ${JSON.stringify(entry)} is not an IP address or CIDR`);
    }
  }
  return (address) => {
    if (address === undefined) return false;
    const plain = unmapped(address);
    return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4');
  };
}

export interface ForwardContext {
  readonly trusted: boolean;
  readonly via: string | undefined;
  /** Set by the decision (identity, budget headers): always win over anything the client sent. */
  readonly decisionHeaders: Readonly<Record<string, string>>;
}

/**
 * Client headers never copied as they are: hop-by-hop ones, the forwarding
 * headers this hop rewrites, `host` (set once, last), and `expect` — the
 * proxy answers `100-continue` itself once the request is allowed, so the
 * upstream gets the body without being asked.
 */
const NOT_COPIED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP, 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via', 'expect',
]);

export function upstreamRequestHeaders(authz: AuthzRequest, req: IncomingMessage, ctx: ForwardContext): HeaderLines {
  const list = authz.headerList;
  const headers = authz.headers;
  const listed = connectionListed(headers.connection);
  const decided = ctx.decisionHeaders;
  const out: HeaderLines = [];
  for (let i = 0; i < list.length; i++) {
    const [name, value] = list[i]!;
    if (NOT_COPIED.has(name) || listed.has(name) || isOwnedHeader(name) || Object.hasOwn(decided, name)) continue;
    out.push(name, value);
  }
  const hop = thisHop(req.socket);
  const host = headers.host ?? '';
  if (ctx.trusted) {
    out.push('x-forwarded-for', appendList(headers['x-forwarded-for'], hop.client));
    out.push('x-forwarded-proto', firstOf(headers['x-forwarded-proto']) ?? hop.proto);
    if (host !== '') out.push('x-forwarded-host', firstOf(headers['x-forwarded-host']) ?? host);
    out.push('forwarded', appendList(headers.forwarded, forwardedElement(hop, host)));
  } else {
    out.push('x-forwarded-for', hop.client, 'x-forwarded-proto', hop.proto);
    if (host !== '') out.push('x-forwarded-host', host);
    out.push('forwarded', forwardedElement(hop, host));
  }
  if (ctx.via !== undefined) out.push('via', appendList(headers.via, `${req.httpVersion === '1.0' ? '1.0' : '1.1'} ${ctx.via}`));
  if (host !== '') out.push('host', host);
  // Identity values may be any Unicode: node:http would throw on them unencoded.
  for (const name in decided) out.push(name, headerValue(decided[name]!));
  return out;
}

/**
 * The upstream's response headers for the client (undici's raw buffers):
 * hop-by-hop removed, the decision's own response headers (decision id,
 * budget) in place of any the upstream sent under those names, via added
 * when configured. Names are read with undici's lookup of known header names
 * (no string is made for `content-length`, `date`…), and the value of a
 * header that is dropped is never decoded: turning a Buffer into a string is
 * a call into C++, which measured as most of this function's cost.
 */
export function clientResponseHeaders(
  raw: readonly Buffer[],
  via: string | undefined,
  decided: Readonly<Record<string, string>>,
): HeaderLines {
  const out: HeaderLines = [];
  let connection: string | undefined;
  let upstreamVia: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = headerName(raw[i]!);
    const value = raw[i + 1]!;
    if (HOP_BY_HOP.has(name)) {
      // `Connection: keep-alive` (nearly every response) lists nothing beyond the hop-by-hop fields.
      if (name === 'connection' && !isKeepAlive(value)) {
        const v = value.toString('latin1');
        connection = connection === undefined ? v : `${connection}, ${v}`;
      }
      continue;
    }
    if (Object.hasOwn(decided, name)) continue;
    if (name === 'via') {
      const v = value.toString('latin1');
      upstreamVia = upstreamVia === undefined ? v : `${upstreamVia}, ${v}`;
      if (via !== undefined) continue;
    }
    out.push(name, value.toString('latin1'));
  }
  const listed = connectionListed(connection);
  const lines = listed.size === 0 ? out : out.filter((_, i, all) => !listed.has(all[i - (i % 2)]!));
  if (via !== undefined) lines.push('via', appendList(upstreamVia, `1.1 ${via}`));
  for (const name in decided) lines.push(name, decided[name]!);
  return lines;
}

const KEEP_ALIVE = Buffer.from('keep-alive');

/** `keep-alive` in any case, read from the bytes. */
function isKeepAlive(value: Buffer): boolean {
  if (value.length !== KEEP_ALIVE.length) return false;
  for (let i = 0; i < KEEP_ALIVE.length; i++) if ((value[i]! | 0x20) !== KEEP_ALIVE[i]) return false;
  return true;
}

/** What this hop says about the client's connection, worked out once per connection. */
interface Hop {
  readonly client: string;
  readonly proto: 'http' | 'https';
  /** `for=…;proto=…` of this hop's forwarded element. */
  readonly forProto: string;
  /** The last host seen on the connection and its whole element (a keep-alive client rarely changes host). */
  host: string | undefined;
  element: string;
}

const HOP = Symbol('authz.proxy.hop');

function thisHop(socket: Socket & { [HOP]?: Hop }): Hop {
  let hop = socket[HOP];
  if (hop === undefined) {
    const client = socket.remoteAddress ?? 'unknown';
    const proto = 'encrypted' in socket && socket.encrypted === true ? 'https' : 'http';
    const plain = unmapped(client);
    const node = isIPv6(plain) ? `"[${plain}]"` : plain;
    hop = { client, proto, forProto: `for=${node};proto=${proto}`, host: undefined, element: '' };
    socket[HOP] = hop;
  }
  return hop;
}

/** This hop's RFC 7239 element; an IPv6 node is quoted and bracketed, a host with odd characters quoted. */
function forwardedElement(hop: Hop, host: string): string {
  if (hop.host !== host) {
    hop.host = host;
    hop.element = host === '' ? hop.forProto : `${hop.forProto};host=${/^[A-Za-z0-9.:-]+$/.test(host) ? host : JSON.stringify(host)}`;
  }
  return hop.element;
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function appendList(prior: string | undefined, value: string): string {
  return prior === undefined || prior.trim() === '' ? value : `${prior}, ${value}`;
}

function firstOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const first = value.split(',')[0]!.trim();
  return first === '' ? undefined : first;
}
