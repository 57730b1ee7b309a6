// Decision → a gRPC-framed envoy.service.auth.v3.CheckResponse, written by
// hand. The response is small and always has the same shape (status, one of
// ok_response / denied_response, dynamic_metadata), so writing its bytes
// directly costs a fraction of building the plain object checkResponseFor()
// describes and having protobufjs convert and encode it (that was ~10% of the
// gRPC path's CPU). The bytes are exactly protobufjs's encoding of
// checkResponseFor(decision) — fields in number order, proto3 defaults (0,
// empty string) left out, map entries in insertion order — and a test holds
// the two equal.
//
// Field numbers (envoy/service/auth/v3/external_auth.proto and its imports):
//   CheckResponse      status=1 denied_response=2 ok_response=3 dynamic_metadata=4
//   google.rpc.Status  code=1 message=2
//   DeniedHttpResponse status=1 (envoy.type.v3.HttpStatus code=1) headers=2 body=3
//   OkHttpResponse     headers=2 headers_to_remove=5 response_headers_to_add=6
//   HeaderValueOption  header=1 (HeaderValue key=1 value=2) append_action=3
//   Struct             fields=1 (map entry key=1 value=2); Value string_value=3
import { ownedHeadersToRemove } from '../../decision/owned-headers.js';
import { DECISION_ID_HEADER, type Decision } from '../../decision/types.js';
import { denyBody } from '../decision-response.js';
import { headerValue } from '../header-value.js';
import { grpcCodeForDeny, OVERWRITE_IF_EXISTS_OR_ADD } from './check-response.js';
import { FRAME_HEADER_BYTES } from './grpc-frame.js';

// Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
const T1_VARINT = 0x08;
const T1_LEN = 0x0a;
const T2_LEN = 0x12;
const T3_VARINT = 0x18;
const T3_LEN = 0x1a;
const T4_LEN = 0x22;
const T5_LEN = 0x2a;
const T6_LEN = 0x32;

/**
 * Up to this many characters an ASCII string is copied by a JS loop; longer
 * ones go through one native write (measured: the loop wins only below ~8).
 */
const SHORT_STRING = 8;

/** One string field to write: its text and UTF-8 byte length. */
interface Str {
  readonly text: string;
  readonly bytes: number;
}

/** One HeaderValueOption: sizes are computed once and reused when writing. */
interface HeaderOpt {
  readonly key: Str;
  readonly value: Str;
  /** Bytes of the HeaderValue message. */
  readonly headerValueBytes: number;
  /** Bytes of the HeaderValueOption message. */
  readonly bytes: number;
}

const DYNAMIC_KEY_DECISION_ID = str('decision_id');
const DYNAMIC_KEY_REASON = str('reason');
const CONTENT_TYPE_JSON = headerOpt('content-type', 'application/json');

/**
 * @param requestHeaders the request's headers (lower-case names): owned names
 * among them that the decision does not set go into headers_to_remove too.
 */
export function encodeCheckResponseFrame(
  decision: Decision,
  requestHeaders?: ReadonlyArray<readonly [string, string]>,
): Buffer {
  const decisionId = str(decision.decisionId);
  const reason = str(decision.reason);

  // dynamic_metadata: Struct { fields: { decision_id: {string_value}, reason: {string_value} } }
  const idEntry = structStringEntryBytes(DYNAMIC_KEY_DECISION_ID, decisionId);
  const reasonEntry = structStringEntryBytes(DYNAMIC_KEY_REASON, reason);
  const metadataBytes = fieldBytes(idEntry) + fieldBytes(reasonEntry);

  let statusBytes: number;
  let statusMessage: Str | undefined;
  let grpcCode: number;
  let first: HeaderOpt[];
  let second: HeaderOpt[] | undefined;
  let remove: readonly string[] | undefined;
  let body: Str | undefined;
  let httpStatusBytes = 0;
  let responseBytes: number;
  if (decision.allowed) {
    grpcCode = 0;
    statusBytes = 0; // code OK is proto3's default: an empty Status
    first = headerOpts(decision.upstreamHeaders, decision.decisionId);
    second = headerOpts(decision.responseHeaders, decision.decisionId);
    remove = ownedHeadersToRemove(decision.upstreamHeaders, requestHeaders).names;
    responseBytes = repeatedBytes(first) + asciiListBytes(remove) + repeatedBytes(second);
  } else {
    grpcCode = grpcCodeForDeny(decision.status);
    statusMessage = reason;
    statusBytes = 1 + varintBytes(grpcCode) + stringFieldBytes(reason);
    first = headerOpts(decision.responseHeaders, decision.decisionId);
    if (!hasHeader(decision.responseHeaders, 'content-type')) first.push(CONTENT_TYPE_JSON);
    body = str(denyBody(decision));
    httpStatusBytes = 1 + varintBytes(decision.status);
    responseBytes = fieldBytes(httpStatusBytes) + repeatedBytes(first) + stringFieldBytes(body);
  }
  const messageBytes = fieldBytes(statusBytes) + fieldBytes(responseBytes) + fieldBytes(metadataBytes);

  const w = new Writer(FRAME_HEADER_BYTES + messageBytes);
  w.buf[0] = 0;
  w.buf.writeUInt32BE(messageBytes, 1);
  w.pos = FRAME_HEADER_BYTES;

  w.byte(T1_LEN).varint(statusBytes);
  if (grpcCode !== 0) w.byte(T1_VARINT).varint(grpcCode);
  if (statusMessage !== undefined) w.stringField(T2_LEN, statusMessage);

  if (decision.allowed) {
    w.byte(T3_LEN).varint(responseBytes); // ok_response = 3
    w.headerOpts(T2_LEN, first);
    w.asciiList(T5_LEN, remove!);
    w.headerOpts(T6_LEN, second!);
  } else {
    w.byte(T2_LEN).varint(responseBytes); // denied_response = 2
    w.byte(T1_LEN).varint(httpStatusBytes).byte(T1_VARINT).varint(decision.status);
    w.headerOpts(T2_LEN, first);
    w.stringField(T3_LEN, body!);
  }

  w.byte(T4_LEN).varint(metadataBytes);
  w.structStringEntry(idEntry, DYNAMIC_KEY_DECISION_ID, decisionId);
  w.structStringEntry(reasonEntry, DYNAMIC_KEY_REASON, reason);
  if (w.pos !== w.buf.length) throw new Error(`CheckResponse writer: wrote ${w.pos} of ${w.buf.length} bytes`);
  return w.buf;
}

/** Every header overwrites; the decision id is always present (as in checkResponseFor). */
function headerOpts(headers: Readonly<Record<string, string>>, decisionId: string): HeaderOpt[] {
  const out: HeaderOpt[] = [];
  for (const key in headers) out.push(headerOpt(key, headers[key]!));
  if (headers[DECISION_ID_HEADER] === undefined) out.push(headerOpt(DECISION_ID_HEADER, decisionId));
  return out;
}

function headerOpt(key: string, value: string): HeaderOpt {
  const k = str(key);
  // Envoy refuses (or drops) values outside visible ASCII: encode them here too.
  const v = str(headerValue(value));
  const headerValueBytes = stringFieldBytes(k) + stringFieldBytes(v);
  return { key: k, value: v, headerValueBytes, bytes: fieldBytes(headerValueBytes) + 2 };
}

function hasHeader(headers: Readonly<Record<string, string>>, name: string): boolean {
  for (const key in headers) if (key.toLowerCase() === name) return true;
  return false;
}

/** Bytes of one Struct.fields map entry { key, Value { string_value } }. */
function structStringEntryBytes(key: Str, value: Str): number {
  return stringFieldBytes(key) + fieldBytes(stringFieldBytes(value));
}

/** A repeated string field of ASCII names (header names: byte length = length). */
function asciiListBytes(names: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < names.length; i++) n += fieldBytes(names[i]!.length);
  return n;
}

function repeatedBytes(opts: readonly HeaderOpt[]): number {
  let n = 0;
  for (let i = 0; i < opts.length; i++) n += fieldBytes(opts[i]!.bytes);
  return n;
}

/** A string field: nothing when empty (proto3 default), else tag, length, bytes. */
function stringFieldBytes(s: Str): number {
  return s.bytes === 0 ? 0 : fieldBytes(s.bytes);
}

/** A length-delimited field of `length` payload bytes: tag, length varint, payload. */
function fieldBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}

function varintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function str(text: string): Str {
  // Native, and flattens a concatenated string once for every later read.
  return { text, bytes: Buffer.byteLength(text, 'utf8') };
}

class Writer {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  byte(b: number): this {
    this.buf[this.pos++] = b;
    return this;
  }

  varint(n: number): this {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
    return this;
  }

  stringField(tag: number, s: Str): this {
    if (s.bytes === 0) return this;
    this.byte(tag).varint(s.bytes);
    const { text, bytes } = s;
    if (bytes !== text.length) {
      this.pos += this.buf.write(text, this.pos, bytes, 'utf8');
    } else if (bytes > SHORT_STRING) {
      // ASCII: latin1 bytes are the UTF-8 bytes, and latin1 is the cheaper native write.
      this.pos += this.buf.write(text, this.pos, bytes, 'latin1');
    } else {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < bytes; i++) buf[pos++] = text.charCodeAt(i);
      this.pos = pos;
    }
    return this;
  }

  asciiList(tag: number, names: readonly string[]): void {
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      this.byte(tag).varint(name.length);
      this.pos += this.buf.write(name, this.pos, name.length, 'latin1');
    }
  }

  headerOpts(tag: number, opts: readonly HeaderOpt[]): void {
    for (let i = 0; i < opts.length; i++) {
      const o = opts[i]!;
      this.byte(tag).varint(o.bytes);
      this.byte(T1_LEN).varint(o.headerValueBytes);
      this.stringField(T1_LEN, o.key).stringField(T2_LEN, o.value);
      this.byte(T3_VARINT).varint(OVERWRITE_IF_EXISTS_OR_ADD);
    }
  }

  structStringEntry(entryBytes: number, key: Str, value: Str): void {
    this.byte(T1_LEN).varint(entryBytes);
    this.stringField(T1_LEN, key);
    this.byte(T2_LEN).varint(stringFieldBytes(value));
    this.stringField(T3_LEN, value);
  }
}
