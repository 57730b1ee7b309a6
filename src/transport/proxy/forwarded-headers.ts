// The headers an allowed request carries to the upstream: the client's, less
// hop-by-hop fields and every header the sidecar owns (identity and budget
// headers are set only by the decision), plus x-forwarded-for/-proto/-host,
// forwarded (RFC 7239) and, when configured, via. A previous hop's forwarding
// headers are appended to only when that hop is a configured trusted proxy;
// from anyone else they are replaced, so a client cannot forge its address.
import { BlockList, isIPv6 } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isOwnedHeader } from '../../decision/owned-headers.js';
import { headerValue } from '../header-value.js';
import { connectionListed, isHopByHop } from './hop-headers.js';

export type OutgoingHeaders = Record<string, string | string[]>;

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
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4');
  };
}

export interface ForwardContext {
  readonly trusted: boolean;
  readonly via: string | undefined;
  /** Set by the decision (identity, budget headers): always win over anything the client sent. */
  readonly decisionHeaders: Readonly<Record<string, string>>;
  /** Keep the hop-by-hop Upgrade/Connection pair (a WebSocket handshake the caller tunnels itself). */
  readonly keepUpgrade?: boolean;
}

export function upstreamRequestHeaders(req: IncomingMessage, ctx: ForwardContext): OutgoingHeaders {
  const listed = connectionListed(req.headers.connection);
  const out: OutgoingHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'host') continue;
    if (isHopByHop(name, listed) && !(ctx.keepUpgrade && (name === 'upgrade' || name === 'connection'))) continue;
    if (isOwnedHeader(name)) continue;
    if (name === 'x-forwarded-for' || name === 'x-forwarded-proto' || name === 'x-forwarded-host' || name === 'forwarded' || name === 'via') continue;
    out[name] = value;
  }
  const client = req.socket.remoteAddress ?? 'unknown';
  const proto = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  const host = req.headers.host ?? '';
  const prior = ctx.trusted ? req.headers : ({} as IncomingHttpHeaders);
  out['x-forwarded-for'] = appendList(prior['x-forwarded-for'], client);
  out['x-forwarded-proto'] = firstOf(prior['x-forwarded-proto']) ?? proto;
  if (host !== '') out['x-forwarded-host'] = firstOf(prior['x-forwarded-host']) ?? host;
  out.forwarded = appendList(prior.forwarded, forwardedElement(client, proto, host));
  if (ctx.via !== undefined) out.via = appendList(req.headers.via, `${httpVersion(req)} ${ctx.via}`);
  if (host !== '') out.host = host;
  // Identity values may be any Unicode: node:http would throw on them unencoded.
  for (const [name, value] of Object.entries(ctx.decisionHeaders)) out[name] = headerValue(value);
  return out;
}

/** The upstream's response headers for the client: hop-by-hop removed, via added when configured. */
export function clientResponseHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  via: string | undefined,
): OutgoingHeaders {
  const listed = connectionListed(headers.connection);
  const out: OutgoingHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || isHopByHop(name, listed)) continue;
    out[name] = value;
  }
  if (via !== undefined) out.via = appendList(headers.via, `1.1 ${via}`);
  return out;
}

function appendList(prior: string | string[] | undefined, value: string): string {
  const joined = Array.isArray(prior) ? prior.join(', ') : prior;
  return joined === undefined || joined.trim() === '' ? value : `${joined}, ${value}`;
}

function firstOf(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const first = v.split(',')[0]!.trim();
  return first === '' ? undefined : first;
}

/** One RFC 7239 element; an IPv6 node is quoted and bracketed, a host with odd characters quoted. */
function forwardedElement(client: string, proto: string, host: string): string {
  const plain = client.startsWith('::ffff:') ? client.slice(7) : client;
  const node = isIPv6(plain) ? `"[${plain}]"` : plain;
  const parts = [`for=${node}`, `proto=${proto}`];
  if (host !== '') parts.push(`host=${/^[A-Za-z0-9.:-]+$/.test(host) ? host : JSON.stringify(host)}`);
  return parts.join(';');
}

function httpVersion(req: IncomingMessage): string {
  return req.httpVersion === '1.0' ? '1.0' : '1.1';
}
