// The policy input as the module consumes it: the JSON text of the document
// buildPolicyInput describes, written directly, once per evaluation (the
// evaluator encodes it straight into the module's memory: wasm/json-eval.ts).
//
// Why not buildPolicyInput + JSON.stringify: opa-wasm stringifies an object
// input itself and then encodes the text, so an object graph built per
// request is walked twice more; measured with the stand-in module on this
// machine (2 KiB input, bench token), building + stringify + encode cost
// ~19 µs of the ~24 µs evaluation, the evaluation of ready bytes ~6.5 µs.
// Here each part is written once, parts that do not change per request
// (the principal's claims, shared by every request with the same verified
// token) are serialized once per object, and a route may declare the
// headers its policy reads (PolicyInputShape) so that a large request does
// not pay for headers no policy looks at.
//
// The text must mean exactly what JSON.stringify(buildPolicyInput(...)) means
// (same members, same values; test/policy/input-json.test.ts compares them).
import type { AuthzRequest, DecisionContext, Peer, Principal } from '../decision/types.js';
import { nowSecond, queryString } from './input.js';

/** What of the request a route's policy reads; undefined members mean "all", as OPA-Envoy gives it. */
export interface PolicyInputShape {
  /** Lower-case header names to include in attributes.request.http.headers; others are left out. */
  readonly headers?: ReadonlySet<string>;
}

export const FULL_INPUT: PolicyInputShape = Object.freeze({});

// JSON.stringify scans a string char by char in this V8 (Node 20): ~4 µs for
// a bearer token. A regex scan for what JSON must escape (quote, backslash,
// control characters, surrogates — paired or not, to keep the test simple)
// is compiled to native code; only strings that have one take the slow path.
// Written as "the whole string is safe", anchored: the engine then runs one
// tight loop over the characters instead of trying a match at every start
// position — half the time for a bearer token (~1.3 µs instead of ~2.6-4 µs
// for 780 characters on this host), the same for short strings.
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const NOTHING_TO_ESCAPE = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

function str(s: string): string {
  return NOTHING_TO_ESCAPE.test(s) ? `"${s}"` : JSON.stringify(s);
}
const VERSION_JSON = '{"ext_authz":"v3","encoding":"protojson"}';

/** JSON of objects that are shared between requests (claims, frozen labels): serialized once per object. */
const shared = new WeakMap<object, string>();

function sharedJson(o: object): string {
  let s = shared.get(o);
  if (s === undefined) {
    s = JSON.stringify(o) ?? 'null';
    // Only frozen objects cannot change after they were serialized.
    if (Object.isFrozen(o)) shared.set(o, s);
  }
  return s;
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** {"k":"v",...} of a string record, optionally only the allowed keys. */
function stringRecord(r: Readonly<Record<string, string>>, allow?: ReadonlySet<string>): string {
  let s = '{';
  for (const k in r) {
    if (allow !== undefined && !allow.has(k)) continue;
    const v = r[k];
    if (v === undefined) continue;
    s += `${s.length === 1 ? '' : ','}${str(k)}:${str(v)}`;
  }
  return `${s}}`;
}

function peer(p: Peer): string {
  const labels = isEmpty(p.labels) ? '{}' : Object.isFrozen(p.labels) ? sharedJson(p.labels) : stringRecord(p.labels);
  const port = Number.isFinite(p.port) ? String(p.port) : '0';
  return `{"address":{"socketAddress":{"address":${str(p.address ?? '')},"portValue":${port}}},` +
    `"principal":${str(p.principal ?? '')},"labels":${labels}}`;
}

/** parsed_path as JSON: the normalized path's segments, percent-decoded like parsePath. */
function parsedPath(path: string): string {
  if (path === '/' || path === '') return '[]';
  let s = '[';
  let start = 1;
  for (;;) {
    const end = path.indexOf('/', start);
    const part = path.slice(start, end < 0 ? path.length : end);
    if (part !== '') s += `${s.length === 1 ? '' : ','}${str(decodeSegment(part))}`;
    if (end < 0) break;
    start = end + 1;
  }
  return `${s}]`;
}

function decodeSegment(part: string): string {
  if (!part.includes('%')) return part;
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function parsedQuery(q: Readonly<Record<string, string>>): string {
  let s = '{';
  for (const k in q) s += `${s.length === 1 ? '' : ','}${str(k)}:[${str(q[k]!)}]`;
  return `${s}}`;
}

function json(v: unknown): string {
  if (v !== null && typeof v === 'object') return isEmpty(v) ? (Array.isArray(v) ? '[]' : '{}') : sharedJson(v);
  return JSON.stringify(v) ?? 'null';
}

/**
 * The principal member's text, once per principal object: a verified token's
 * principal is one frozen object (its roles and claims frozen too) shared by
 * every request that carries the token, so its text cannot change.
 */
const principalTexts = new WeakMap<Principal, string>();

function principalJson(p: Principal): string {
  let s = principalTexts.get(p);
  if (s !== undefined) return s;
  s = `{"id":${str(p.id)},"kind":${str(p.kind)},"tenant":${p.tenant === undefined ? 'null' : str(p.tenant)},` +
    `"roles":${json(p.roles)},"claims":${json(p.claims)}}`;
  if (Object.isFrozen(p) && Object.isFrozen(p.roles) && Object.isFrozen(p.claims)) principalTexts.set(p, s);
  return s;
}

/** The policy input's JSON text. */
export function policyInputJson(req: AuthzRequest, ctx: DecisionContext, shape: PolicyInputShape = FULL_INPUT): string {
  const query = queryString(req.query);
  const p = ctx.principal;
  const r = ctx.resource;
  const budget = ctx.annotations.budget;
  return '{"attributes":{' +
    `"source":${peer(req.source)},"destination":${peer(req.destination)},` +
    `"request":{"http":{"id":${str(req.requestId)},"method":${str(req.method)},` +
    `"path":${str(query === '' ? req.path : `${req.path}?${query}`)},"host":${str(req.host)},` +
    `"scheme":${str(req.scheme)},"protocol":${str(req.protocol)},"query":${str(query)},` +
    `"headers":${stringRecord(req.headers, shape.headers)}}},` +
    `"contextExtensions":${stringRecord(req.contextExtensions)},` +
    `"metadataContext":{"filterMetadata":${json(req.filterMetadata)}}},` +
    `"parsed_path":${parsedPath(req.path)},"parsed_query":${parsedQuery(req.query)},` +
    `"principal":${principalJson(p)},` +
    `"resource":{"type":${str(r.type)},"id":${str(r.id)},"tenant":${r.tenant === undefined ? 'null' : str(r.tenant)}},` +
    `"action":${str(ctx.action)},"route":${str(ctx.route)},"route_params":${stringRecord(ctx.routeParams)},` +
    `"now":${str(nowSecond())},"version":${VERSION_JSON}` +
    (budget === undefined ? '}' : `,"budget":${JSON.stringify(budget) ?? 'null'}}`);
}
