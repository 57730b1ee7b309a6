// Wire bytes → DecodedCheckRequest, read by hand. protobufjs's generated
// decoder was the largest single cost of the gRPC path (~13% of its CPU): it
// builds every message of AttributeContext, reads int64s into Longs and
// assembles short strings by concatenation. This reader builds only what
// authzRequestFromCheck() uses and skips the rest (time, size, body, raw_body,
// fragment, query, service, certificate, tls_session, route metadata, ...).
//
// Same answers as protobufjs for what it keeps — the last occurrence of a
// singular field wins, map entries default to '' (strings) or an empty
// message — except that http.headers is handed over as a list of entries
// (DecodedHttpRequest.headerEntries), so a name the map repeats counts as a
// repeated header instead of the last one silently winning. A message that
// does not parse — truncated, a bad wire type, a field number 0, nesting past
// 100 messages (protoc's and protobufjs's limit) or a string field we keep
// that is not UTF-8 — throws MalformedProtobuf.
// Fields we skip are parsed only for their framing, so their strings are not
// checked for UTF-8: nothing reads them.
//
// One intended difference in what comes out: a google.protobuf.Value has only
// the member that was on the wire. protobufjs leaves the others at their
// prototype defaults (string_value ''), which structToJson() read as an empty
// string for every number, bool, struct and list in Envoy's metadata.
//
// Field numbers: envoy/service/auth/v3/{external_auth,attribute_context}.proto,
// envoy/config/core/v3/{address,base}.proto, google/protobuf/struct.proto.
import { isUtf8 } from 'node:buffer';
import type {
  DecodedAddress,
  DecodedAttributeContext,
  DecodedCheckRequest,
  DecodedHeaderValue,
  DecodedHttpRequest,
  DecodedMetadata,
  DecodedPeer,
  DecodedStruct,
  DecodedValue,
} from '../../request/check-request-types.js';
import { MAX_HEADER_COUNT } from '../../request/header-list.js';
import { SHORT_STRING_MAX_BYTES, shortAsciiString } from './short-strings.js';

export class MalformedProtobuf extends Error {
  override readonly name = 'MalformedProtobuf';
}

/**
 * A well-formed message over a count limit. Bytes alone do not bound the work:
 * an empty header entry is 2 bytes, so a small message can hold 100,000 of them.
 * `reason` is the deny's reason code.
 */
export class MessageLimitExceeded extends Error {
  override readonly name = 'MessageLimitExceeded';
  constructor(readonly reason: 'too_many_headers' | 'metadata_too_large') {
    super(reason);
  }
}

const MAX_DEPTH = 100;

/** Entries of header_map and headers together; more is `too_many_headers` (empty names count). */
const MAX_HEADER_ENTRIES = MAX_HEADER_COUNT;
/** Map entries and list values elsewhere (metadata, context extensions, peer labels). */
const MAX_OTHER_ENTRIES = 10_000;

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;


class Reader {
  pos: number;
  /** Header entries read so far, against MAX_HEADER_ENTRIES. */
  headers = 0;
  /** Other map entries and list values read so far, against MAX_OTHER_ENTRIES. */
  entries = 0;

  constructor(
    readonly buf: Buffer,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    // Values we keep are 32-bit (lengths, tags, ports); longer varints are
    // read to their end and truncated to their low 32 bits, as protoc does.
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MalformedProtobuf('truncated varint');
      const b = buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return result >>> 0;
    }
    throw new MalformedProtobuf('varint longer than 10 bytes');
  }

  /** The end offset of a length-delimited field whose length comes next. */
  lengthEnd(): number {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.end) throw new MalformedProtobuf('length beyond the message');
    return end;
  }

  /** A UTF-8 string field (proto3 strings must be valid UTF-8). */
  string(): string {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    return readUtf8(this.buf, start, end);
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new MalformedProtobuf('truncated double');
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  bytes(): Uint8Array {
    const end = this.lengthEnd();
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  skip(wireType: number, field: number, depth: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.advance(8);
        return;
      case LEN:
        this.pos = this.lengthEnd();
        return;
      case FIXED32:
        this.advance(4);
        return;
      case START_GROUP:
        if (depth >= MAX_DEPTH) throw new MalformedProtobuf('nested too deep');
        for (;;) {
          const tag = this.tag();
          if ((tag & 7) === END_GROUP) {
            if (tag >>> 3 !== field) throw new MalformedProtobuf('mismatched end group');
            return;
          }
          this.skip(tag & 7, tag >>> 3, depth + 1);
        }
      default:
        throw new MalformedProtobuf(`invalid wire type ${wireType}`);
    }
  }

  countHeader(): void {
    if (++this.headers > MAX_HEADER_ENTRIES) throw new MessageLimitExceeded('too_many_headers');
  }

  countEntry(): void {
    if (++this.entries > MAX_OTHER_ENTRIES) throw new MessageLimitExceeded('metadata_too_large');
  }

  tag(): number {
    const tag = this.varint();
    if (tag >>> 3 === 0) throw new MalformedProtobuf('field number 0');
    return tag;
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new MalformedProtobuf('truncated field');
    this.pos += n;
  }
}

function readUtf8(buf: Buffer, start: number, end: number): string {
  if (end - start <= SHORT_STRING_MAX_BYTES) return shortAsciiString(buf, start, end) ?? readUtf8Slow(buf, start, end);
  // Buffer#utf8Slice: what toString('utf8', start, end) calls after its argument checks.
  const s = (buf as unknown as NativeSlices).utf8Slice(start, end);
  // utf8Slice replaces bad sequences with U+FFFD; only then is a strict check needed.
  return s.indexOf('\uFFFD') === -1 ? s : readUtf8Slow(buf, start, end);
}

interface NativeSlices {
  utf8Slice(start: number, end: number): string;
}

function readUtf8Slow(buf: Buffer, start: number, end: number): string {
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw new MalformedProtobuf('string field is not valid UTF-8');
  return view.toString('utf8');
}

// Each message reader loops over its fields and switches on the whole tag
// ((field number << 3) | wire type), so a field with an unexpected wire type
// falls to `default` and is skipped like an unknown one.
const tag = (field: number, wireType: number): number => (field << 3) | wireType;
const T1 = tag(1, LEN);
const T2 = tag(2, LEN);
const T3 = tag(3, LEN);
const T4 = tag(4, LEN);
const T5 = tag(5, LEN);
const T6 = tag(6, LEN);
const T10 = tag(10, LEN);
const T11 = tag(11, LEN);
const T13 = tag(13, LEN);
const T1_VARINT = tag(1, VARINT);
const T2_FIXED64 = tag(2, FIXED64);
const T3_VARINT = tag(3, VARINT);
const T4_VARINT = tag(4, VARINT);

/** Enters the length-delimited message that comes next; returns the enclosing limit for leave(). */
function enter(r: Reader, depth: number): number {
  if (depth > MAX_DEPTH) throw new MalformedProtobuf('nested too deep');
  const end = r.lengthEnd();
  const outer = r.end;
  r.end = end;
  return outer;
}

function leave(r: Reader, outer: number): void {
  r.end = outer;
}

export function decodeCheckRequest(message: Buffer): DecodedCheckRequest {
  const r = new Reader(message, 0, message.length);
  const out: DecodedCheckRequest = { attributes: null };
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) out.attributes = attributeContext(r, 1);
    else r.skip(t & 7, t >>> 3, 0);
  }
  return out;
}

function attributeContext(r: Reader, depth: number): DecodedAttributeContext {
  const outer = enter(r, depth);
  const out: DecodedAttributeContext = {
    source: null,
    destination: null,
    request: null,
    contextExtensions: null,
    metadataContext: null,
  };
  while (r.pos < r.end) {
    const t = r.tag();
    switch (t) {
      case T1:
        out.source = peer(r, depth + 1);
        break;
      case T2:
        out.destination = peer(r, depth + 1);
        break;
      case T4:
        out.request = { http: request(r, depth + 1) };
        break;
      case T10:
        stringMapEntry(r, depth + 1, (out.contextExtensions ??= emptyMap()));
        break;
      case T11:
        out.metadataContext = metadata(r, depth + 1);
        break;
      default:
        r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/** Request { time = 1; http = 2 }: only http is kept. */
function request(r: Reader, depth: number): DecodedHttpRequest | null {
  const outer = enter(r, depth);
  let http: DecodedHttpRequest | null = null;
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T2) http = httpRequest(r, depth + 1);
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  return http;
}

/** Peer { address = 1; labels = 3 (map); principal = 4 } */
function peer(r: Reader, depth: number): DecodedPeer {
  const outer = enter(r, depth);
  const out: DecodedPeer = { address: null, labels: null, principal: '' };
  while (r.pos < r.end) {
    const t = r.tag();
    switch (t) {
      case T1:
        out.address = address(r, depth + 1);
        break;
      case T3:
        stringMapEntry(r, depth + 1, (out.labels ??= emptyMap()));
        break;
      case T4:
        out.principal = r.string();
        break;
      default:
        r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/** Address { oneof: socket_address = 1; pipe = 2 }: the last member set wins. */
function address(r: Reader, depth: number): DecodedAddress {
  const outer = enter(r, depth);
  const out: DecodedAddress = { socketAddress: null, pipe: null };
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) {
      out.socketAddress = socketAddress(r, depth + 1);
      out.pipe = null;
    } else if (t === T2) {
      out.pipe = { path: singleString(r, depth + 1, T1) };
      out.socketAddress = null;
    } else {
      r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/** SocketAddress { address = 2; port_value = 3 (uint32) } */
function socketAddress(r: Reader, depth: number): { address: string; portValue: number } {
  const outer = enter(r, depth);
  const out = { address: '', portValue: 0 };
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T2) out.address = r.string();
    else if (t === T3_VARINT) out.portValue = r.varint();
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  return out;
}

/**
 * HttpRequest { id = 1; method = 2; headers = 3 (map); path = 4; host = 5;
 * scheme = 6; protocol = 10; header_map = 13 }
 */
function httpRequest(r: Reader, depth: number): DecodedHttpRequest {
  const outer = enter(r, depth);
  const out: DecodedHttpRequest = {
    id: '',
    method: '',
    headerEntries: null,
    headerMap: null,
    path: '',
    host: '',
    scheme: '',
    protocol: '',
  };
  while (r.pos < r.end) {
    const t = r.tag();
    switch (t) {
      case T1:
        out.id = r.string();
        break;
      case T2:
        out.method = r.string();
        break;
      case T3:
        // Kept as a list: authzRequestFromCheck builds the one header object.
        stringMapEntryInto(r, depth + 1, (out.headerEntries ??= []));
        break;
      case T4:
        out.path = r.string();
        break;
      case T5:
        out.host = r.string();
        break;
      case T6:
        out.scheme = r.string();
        break;
      case T10:
        out.protocol = r.string();
        break;
      case T13:
        out.headerMap = { headers: headerMap(r, depth + 1) };
        break;
      default:
        r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/** HeaderMap { repeated HeaderValue headers = 1 } */
function headerMap(r: Reader, depth: number): DecodedHeaderValue[] {
  const outer = enter(r, depth);
  const headers: DecodedHeaderValue[] = [];
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) {
      r.countHeader();
      headers.push(headerValue(r, depth + 1));
    }
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  return headers;
}

/** HeaderValue { key = 1; value = 2; raw_value = 3 (bytes) } */
function headerValue(r: Reader, depth: number): DecodedHeaderValue {
  const outer = enter(r, depth);
  const out: DecodedHeaderValue = { key: '', value: '', rawValue: null };
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) out.key = r.string();
    else if (t === T2) out.value = r.string();
    else if (t === T3) out.rawValue = r.bytes();
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  return out;
}

/** A message whose one kept field is the string with tag `wanted`. */
function singleString(r: Reader, depth: number, wanted: number): string {
  const outer = enter(r, depth);
  let value = '';
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === wanted) value = r.string();
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  return value;
}

/** One map<string, string> entry { key = 1; value = 2 } into `map`. */
function stringMapEntry(r: Reader, depth: number, map: Record<string, string>): void {
  r.countEntry();
  const outer = enter(r, depth);
  let key = '';
  let value = '';
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) key = r.string();
    else if (t === T2) value = r.string();
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  map[key] = value;
}

/** One map<string, string> entry { key = 1; value = 2 } appended to `entries` as key, value. */
function stringMapEntryInto(r: Reader, depth: number, entries: string[]): void {
  r.countHeader();
  const outer = enter(r, depth);
  let key = '';
  let value = '';
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) key = r.string();
    else if (t === T2) value = r.string();
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  entries.push(key, value);
}

/** Metadata { map<string, Struct> filter_metadata = 1 } */
function metadata(r: Reader, depth: number): DecodedMetadata {
  const outer = enter(r, depth);
  const out: DecodedMetadata = { filterMetadata: null };
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) {
      r.countEntry();
      const map = (out.filterMetadata ??= emptyMap());
      // A map entry is not a nesting level of its own (as in protobufjs).
      const entryOuter = enter(r, depth);
      let key = '';
      let value: DecodedStruct = { fields: null };
      while (r.pos < r.end) {
        const et = r.tag();
        if (et === T1) key = r.string();
        else if (et === T2) value = struct(r, depth + 1);
        else r.skip(et & 7, et >>> 3, depth);
      }
      leave(r, entryOuter);
      map[key] = value;
    } else {
      r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/** Struct { map<string, Value> fields = 1 } */
function struct(r: Reader, depth: number): DecodedStruct {
  const outer = enter(r, depth);
  const out: DecodedStruct = { fields: null };
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) {
      r.countEntry();
      const fields = (out.fields ??= emptyMap());
      const entryOuter = enter(r, depth);
      let key = '';
      let value: DecodedValue = {};
      while (r.pos < r.end) {
        const et = r.tag();
        if (et === T1) key = r.string();
        else if (et === T2) value = structValue(r, depth + 1);
        else r.skip(et & 7, et >>> 3, depth);
      }
      leave(r, entryOuter);
      fields[key] = value;
    } else {
      r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/**
 * Value { oneof kind: null_value = 1 (enum), number_value = 2 (double),
 * string_value = 3, bool_value = 4, struct_value = 5, list_value = 6 }.
 * The last member set wins; the others are left unset.
 */
function structValue(r: Reader, depth: number): DecodedValue {
  const outer = enter(r, depth);
  let out: DecodedValue = {};
  while (r.pos < r.end) {
    const t = r.tag();
    switch (t) {
      case T1_VARINT:
        out = { nullValue: r.varint() };
        break;
      case T2_FIXED64:
        out = { numberValue: r.double() };
        break;
      case T3:
        out = { stringValue: r.string() };
        break;
      case T4_VARINT:
        out = { boolValue: r.varint() !== 0 };
        break;
      case T5:
        out = { structValue: struct(r, depth + 1) };
        break;
      case T6:
        out = { listValue: { values: listValue(r, depth + 1) } };
        break;
      default:
        r.skip(t & 7, t >>> 3, depth);
    }
  }
  leave(r, outer);
  return out;
}

/** ListValue { repeated Value values = 1 } */
function listValue(r: Reader, depth: number): DecodedValue[] {
  const outer = enter(r, depth);
  const values: DecodedValue[] = [];
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === T1) {
      r.countEntry();
      values.push(structValue(r, depth + 1));
    }
    else r.skip(t & 7, t >>> 3, depth);
  }
  leave(r, outer);
  return values;
}

/** Maps keep keys like `__proto__` as plain data. */
function emptyMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
