// proto3 JSON → the decoded CheckRequest shape, for `authz-sidecar check`.
// Follows the proto3 JSON mapping: camelCase or original field names, null as
// "unset", int64 as number or string, bytes as base64, Struct as plain JSON,
// Timestamp as an RFC 3339 string. Unknown fields are an error: a typo in a
// hand-written request should fail loudly rather than deny for a wrong reason.
import type { DecodedCheckRequest } from './check-request-types.js';
import { jsonToStruct } from './check-request-struct.js';

type Reader = (value: unknown, where: string) => unknown;

function fail(where: string, expected: string): never {
  throw new Error(`${where}: expected ${expected}`);
}

const str: Reader = (v, where) => (typeof v === 'string' ? v : fail(where, 'a string'));

const bool: Reader = (v, where) => (typeof v === 'boolean' ? v : fail(where, 'true or false'));

function integer(min: number, max: number): Reader {
  return (v, where) => {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      fail(where, `an integer from ${min} to ${max}`);
    }
    return n;
  };
}

const uint32 = integer(0, 0xffffffff);
// int64 fits a double only up to 2^53; larger values are kept as their string.
const int64: Reader = (v, where) => {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) return v;
  return fail(where, 'an int64 (number or decimal string)');
};

const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;
const bytes: Reader = (v, where) => {
  if (typeof v !== 'string' || !BASE64.test(v)) fail(where, 'base64 bytes');
  return Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64');
};

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const timestamp: Reader = (v, where) => {
  const m = typeof v === 'string' ? RFC3339.exec(v) : null;
  const ms = m ? Date.parse(v as string) : NaN;
  if (!m || Number.isNaN(ms)) fail(where, 'an RFC 3339 timestamp such as "2024-05-01T12:00:00Z"');
  const frac = m[7] ?? '';
  return { seconds: Math.floor(ms / 1000), nanos: frac === '' ? 0 : Number(frac.slice(1).padEnd(9, '0')) };
};

function enumOf(names: readonly string[]): Reader {
  return (v, where) => {
    if (typeof v === 'string' && names.includes(v)) return names.indexOf(v);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return v;
    return fail(where, `one of ${names.join(', ')}`);
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mapOf(value: Reader): Reader {
  return (v, where) => {
    if (!isObject(v)) fail(where, 'a JSON object');
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, item] of Object.entries(v)) out[k] = value(item, `${where}.${k}`);
    return out;
  };
}

function repeated(item: Reader): Reader {
  return (v, where) => (Array.isArray(v) ? v.map((x, i) => item(x, `${where}[${i}]`)) : fail(where, 'an array'));
}

const snakeToCamel = (name: string): string => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** A message: fields keyed by their camelCase JSON name; the original snake_case name is accepted too. */
function message(fields: Record<string, Reader>): Reader {
  return (v, where) => {
    if (!isObject(v)) fail(where, 'a JSON object');
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v)) {
      const name = Object.hasOwn(fields, key) ? key : snakeToCamel(key);
      const read = Object.hasOwn(fields, name) ? fields[name] : undefined;
      if (read === undefined) throw new Error(`${where}: unknown field "${key}"`);
      if (value === null) continue;
      out[name] = read(value, `${where}.${key}`);
    }
    return out;
  };
}

const struct: Reader = (v, where) => jsonToStruct(v, where);

const headerValue = message({ key: str, value: str, rawValue: bytes });
const address = message({
  socketAddress: message({
    protocol: enumOf(['TCP', 'UDP']),
    address: str,
    portValue: integer(0, 65535),
    namedPort: str,
    resolverName: str,
    ipv4Compat: bool,
    networkNamespaceFilepath: str,
  }),
  pipe: message({ path: str, mode: uint32 }),
  envoyInternalAddress: message({ serverListenerName: str, endpointId: str }),
});
const peer = message({ address, service: str, labels: mapOf(str), principal: str, certificate: str });
const httpRequest = message({
  id: str,
  method: str,
  headers: mapOf(str),
  headerMap: message({ headers: repeated(headerValue) }),
  path: str,
  host: str,
  scheme: str,
  query: str,
  fragment: str,
  size: int64,
  protocol: str,
  body: str,
  rawBody: bytes,
});
const metadata = message({ filterMetadata: mapOf(struct) });
const attributeContext = message({
  source: peer,
  destination: peer,
  request: message({ time: timestamp, http: httpRequest }),
  contextExtensions: mapOf(str),
  metadataContext: metadata,
  routeMetadataContext: metadata,
  tlsSession: message({ sni: str }),
});
const checkRequest = message({ attributes: attributeContext });

export function decodedCheckRequestFromJson(json: unknown): DecodedCheckRequest {
  return checkRequest(json, 'CheckRequest') as DecodedCheckRequest;
}
