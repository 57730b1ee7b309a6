// One trail line, checked and read for shipping: its chain fields, the event
// JSON, and the fields a shipped event is routed by (decision id, time,
// tenant, resource) — without building the event object.
//
// A line the writer wrote (the v1 template, compact, fields in order) is
// matched by one regular expression that accepts well-formed JSON only and
// captures those fields: about a quarter of what JSON.parse of the whole
// event cost the shipper thread (it built all ~30 fields and the nested
// budget for five of them to be read). Anything it does not match (a line of
// another shape, whitespace, deeper nesting, a repeated routing key, or
// corrupt bytes) takes the full path — JSON.parse — so what is refused and
// why is exactly what it was: a line that is not chained, not JSON, or not an
// event is never shipped.
import { chainFieldsOf } from '../hash-chain.js';

export interface EventHead {
  readonly decision_id: string;
  readonly timestamp: string;
  readonly tenant_id: string | null;
  readonly resource_type: string | null;
  readonly resource_id: string | null;
}

export interface ChainedEvent {
  readonly seq: number;
  /** The event JSON without the chain fields. */
  readonly json: string;
  readonly head: EventHead;
  /** The parsed event, when the full path parsed it anyway. */
  readonly parsed?: Readonly<Record<string, unknown>>;
}

export type CorruptWhy = 'not a chained audit line' | 'not valid JSON' | 'not an audit event (no decision_id/timestamp)';

// JSON (RFC 8259) without whitespace, nesting bounded to what a v1 event holds (budget: {remaining: {…}}).
const STR = String.raw`"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"`;
const NUM = String.raw`-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?`;
const PRIMITIVE = `(?:${STR}|${NUM}|true|false|null)`;
const array = (v: string): string => String.raw`\[(?:${v}(?:,${v})*)?\]`;
const object = (v: string): string => String.raw`\{(?:${STR}:${v}(?:,${STR}:${v})*)?\}`;
const DEPTH1 = `(?:${PRIMITIVE}|${array(PRIMITIVE)}|${object(PRIMITIVE)})`;
const DEPTH2 = `(?:${PRIMITIVE}|${array(DEPTH1)}|${object(DEPTH1)})`;
const STR_OR_NULL = `(?:${STR}|null)`;
/** Keys the template's prefix holds (a later repeat would win in JSON.parse) and the chain's own. */
const RESERVED = `"(?:decision_id|timestamp|tenant_id|resource_type|resource_id|seq|prev_hash)":`;

const WRITTEN_LINE = new RegExp(
  String.raw`^\{"schema_version":1,"timestamp":(${STR}),"decision_id":(${STR}),"tenant_id":(${STR_OR_NULL}),`
  + `"principal":${STR_OR_NULL},"principal_kind":${STR_OR_NULL},"principal_tenant":${STR_OR_NULL},"action":${STR_OR_NULL},`
  + `"resource_type":(${STR_OR_NULL}),"resource_id":(${STR_OR_NULL})`
  + `(?:,(?!${RESERVED})${STR}:${DEPTH2})*`
  + String.raw`(,"seq":(\d{1,15}),"prev_hash":"[0-9a-f]{64}"\})$`,
);

/** The line's event, or why it must not be shipped. */
export function readChainedLine(line: string): ChainedEvent | CorruptWhy {
  let m: RegExpExecArray | null;
  try {
    m = WRITTEN_LINE.exec(line);
  } catch {
    m = null; // the engine gave up (a pathological line): the full path decides
  }
  if (m === null) return fullPath(line);
  const tail = m[6] as string;
  return {
    seq: Number(m[7]),
    json: line.slice(0, line.length - tail.length) + '}',
    head: {
      timestamp: literal(m[1] as string) as string,
      decision_id: literal(m[2] as string) as string,
      tenant_id: literal(m[3] as string),
      resource_type: literal(m[4] as string),
      resource_id: literal(m[5] as string),
    },
  };
}

/** A matched JSON string literal (or null), decoded. */
function literal(token: string): string | null {
  if (token === 'null') return null;
  return token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
}

function fullPath(line: string): ChainedEvent | CorruptWhy {
  const fields = chainFieldsOf(line);
  if (fields === undefined) return 'not a chained audit line';
  const json = line.slice(0, line.lastIndexOf(',"seq":')) + '}';
  let event: unknown;
  try {
    event = JSON.parse(json);
  } catch {
    return 'not valid JSON';
  }
  if (event === null || typeof event !== 'object') return 'not an audit event (no decision_id/timestamp)';
  const e = event as Record<string, unknown>;
  if (typeof e.decision_id !== 'string' || typeof e.timestamp !== 'string') return 'not an audit event (no decision_id/timestamp)';
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    seq: fields.seq, json, parsed: e,
    head: { decision_id: e.decision_id, timestamp: e.timestamp, tenant_id: text(e.tenant_id), resource_type: text(e.resource_type), resource_id: text(e.resource_id) },
  };
}
