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
import {
  DEFAULT_DECISION_METADATA,
  decisionMetadataValue,
  type DecisionMetadataField,
} from '../../decision/decision-metadata.js';
import { ownedHeadersToRemove, type OwnedRemovals } from '../../decision/owned-headers.js';
import { DECISION_ID_HEADER, type Decision } from '../../decision/types.js';
import { denyBody } from '../decision-response.js';
import { headerValue } from '../header-value.js';
import { grpcCodeForDeny, OVERWRITE_IF_EXISTS_OR_ADD } from './check-response.js';
import { FRAME_HEADER_BYTES } from './grpc-frame.js';
import { knownBytes } from './known-strings.js';

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

/** Encoded bytes up to this many are copied by a JS loop, longer ones by TypedArray#set. */
const COPY_LOOP_BYTES = 64;

/** Buffer's native writers, which Buffer#write calls after checking its arguments (ours are in range by construction). */
interface NativeWrites {
  latin1Write(text: string, offset: number, length: number): number;
  utf8Write(text: string, offset: number, length: number): number;
}

/** One string field to write: its text, UTF-8 byte length and, when kept (known-strings.ts), its bytes. */
interface Str {
  readonly text: string;
  readonly bytes: number;
  readonly encoded: Uint8Array | undefined;
}

/**
 * The HeaderValueOptions of one repeated field, as parallel arrays that every
 * response reuses (the writer is synchronous): sizes are computed once and
 * reused when writing, and a response allocates no object per header — with
 * a budget's headers that was ~2 KB of garbage per decision.
 */
class HeaderList {
  count = 0;
  readonly keys: string[] = [];
  readonly keyBytes: number[] = [];
  /** The name's bytes when kept (known-strings.ts). */
  readonly keyEncoded: Array<Uint8Array | undefined> = [];
  readonly values: string[] = [];
  readonly valueBytes: number[] = [];
  /** Bytes of each HeaderValue message. */
  readonly headerValueBytes: number[] = [];
  /** Bytes of each HeaderValueOption message. */
  readonly bytes: number[] = [];

  /** Every header overwrites; the decision id is always present (as in checkResponseFor). */
  fill(headers: Readonly<Record<string, string>>, decisionId: string): this {
    this.count = 0;
    for (const key in headers) this.add(key, headers[key]!);
    if (headers[DECISION_ID_HEADER] === undefined) this.add(DECISION_ID_HEADER, decisionId);
    return this;
  }

  add(key: string, value: string): void {
    const i = this.count++;
    // Envoy refuses (or drops) values outside visible ASCII: encode them here too.
    // headerValue() answers ASCII only, so its length is its UTF-8 byte length.
    const v = headerValue(value);
    const encoded = knownBytes(key);
    const kb = encoded !== undefined ? encoded.length : Buffer.byteLength(key, 'utf8');
    const vb = v.length;
    const headerValueBytes = stringBytes(kb) + stringBytes(vb);
    this.keys[i] = key;
    this.keyBytes[i] = kb;
    this.keyEncoded[i] = encoded;
    this.values[i] = v;
    this.valueBytes[i] = vb;
    this.headerValueBytes[i] = headerValueBytes;
    this.bytes[i] = fieldBytes(headerValueBytes) + 2;
  }

  /** Bytes of the repeated field. */
  fieldBytes(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) n += fieldBytes(this.bytes[i]!);
    return n;
  }
}

const FIRST_HEADERS = new HeaderList();
const SECOND_HEADERS = new HeaderList();

/**
 * Which decision fields go into dynamic_metadata, with their keys encoded
 * once (at server start) and scratch space for one response's values: the
 * writer is synchronous, so one plan serves every response of a server.
 */
export class DynamicMetadataPlan {
  readonly keys: readonly Str[];
  /** This response's values (undefined: the decision has none) and entry sizes. */
  readonly values: Array<Str | undefined>;
  readonly entryBytes: number[];

  constructor(readonly fields: readonly DecisionMetadataField[]) {
    this.keys = fields.map((f) => knownStr(f));
    this.values = fields.map(() => undefined);
    this.entryBytes = fields.map(() => 0);
  }
}

const DEFAULT_PLAN = new DynamicMetadataPlan(DEFAULT_DECISION_METADATA);

/**
 * @param requestHeaders the request's headers (lower-case names): owned names
 * among them that the decision does not set go into headers_to_remove too.
 * @param metadata the dynamic_metadata fields (decision_metadata.fields).
 */
export function encodeCheckResponseFrame(
  decision: Decision,
  requestHeaders?: ReadonlyArray<readonly [string, string]>,
  metadata: DynamicMetadataPlan = DEFAULT_PLAN,
): Buffer {
  const reason = knownStr(decision.reason);

  // dynamic_metadata: Struct { fields: { <field>: {string_value}, ... } }, empty values left out
  let metadataBytes = 0;
  for (let i = 0; i < metadata.fields.length; i++) {
    const field = metadata.fields[i]!;
    const text = decisionMetadataValue(decision, field);
    // reason and stage come from a small set; the others (ids, names) would only fill the table.
    const value = text === undefined || text === '' ? undefined : field === 'reason' || field === 'stage' ? knownStr(text) : str(text);
    metadata.values[i] = value;
    if (value === undefined) continue;
    const entry = structStringEntryBytes(metadata.keys[i]!, value);
    metadata.entryBytes[i] = entry;
    metadataBytes += fieldBytes(entry);
  }

  let statusBytes: number;
  let statusMessage: Str | undefined;
  let grpcCode: number;
  let first: HeaderList;
  let second: HeaderList | undefined;
  let remove: Uint8Array | undefined;
  let body: Str | undefined;
  let httpStatusBytes = 0;
  let responseBytes: number;
  if (decision.allowed) {
    grpcCode = 0;
    statusBytes = 0; // code OK is proto3's default: an empty Status
    first = FIRST_HEADERS.fill(decision.upstreamHeaders, decision.decisionId);
    second = SECOND_HEADERS.fill(decision.responseHeaders, decision.decisionId);
    remove = removalsField(ownedHeadersToRemove(decision.upstreamHeaders, requestHeaders));
    responseBytes = first.fieldBytes() + remove.length + second.fieldBytes();
  } else {
    grpcCode = grpcCodeForDeny(decision.status);
    statusMessage = reason;
    statusBytes = 1 + varintBytes(grpcCode) + stringFieldBytes(reason);
    first = FIRST_HEADERS.fill(decision.responseHeaders, decision.decisionId);
    if (!hasHeader(decision.responseHeaders, 'content-type')) first.add('content-type', 'application/json');
    body = str(denyBody(decision));
    httpStatusBytes = 1 + varintBytes(decision.status);
    responseBytes = fieldBytes(httpStatusBytes) + first.fieldBytes() + stringFieldBytes(body);
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
    w.copy(remove!);
    w.headerOpts(T6_LEN, second!);
  } else {
    w.byte(T2_LEN).varint(responseBytes); // denied_response = 2
    w.byte(T1_LEN).varint(httpStatusBytes).byte(T1_VARINT).varint(decision.status);
    w.headerOpts(T2_LEN, first);
    w.stringField(T3_LEN, body!);
  }

  w.byte(T4_LEN).varint(metadataBytes);
  for (let i = 0; i < metadata.fields.length; i++) {
    const value = metadata.values[i];
    if (value !== undefined) w.structStringEntry(metadata.entryBytes[i]!, metadata.keys[i]!, value);
  }
  if (w.pos !== w.buf.length) throw new Error(`CheckResponse writer: wrote ${w.pos} of ${w.buf.length} bytes`);
  return w.buf;
}

function hasHeader(headers: Readonly<Record<string, string>>, name: string): boolean {
  for (const key in headers) if (key.toLowerCase() === name) return true;
  return false;
}

/** Bytes of one Struct.fields map entry { key, Value { string_value } }. */
function structStringEntryBytes(key: Str, value: Str): number {
  return stringFieldBytes(key) + fieldBytes(stringFieldBytes(value));
}

/**
 * headers_to_remove as written: one length-delimited field per name. Kept per
 * OwnedRemovals object: the common ones are built once (owned-headers.ts),
 * so this is encoded once for them too.
 */
const removalFields = new WeakMap<OwnedRemovals, Uint8Array>();

function removalsField(removals: OwnedRemovals): Uint8Array {
  let field = removalFields.get(removals);
  if (field === undefined) {
    const parts: number[] = [];
    for (const name of removals.names) {
      // Our own names are ASCII; one a client sent under an owned prefix may not be.
      const bytes = Buffer.from(name, 'utf8');
      parts.push(T5_LEN);
      let n = bytes.length;
      while (n >= 0x80) {
        parts.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      parts.push(n);
      for (let i = 0; i < bytes.length; i++) parts.push(bytes[i]!);
    }
    field = Uint8Array.from(parts);
    removalFields.set(removals, field);
  }
  return field;
}

/** A string field: nothing when empty (proto3 default), else tag, length, bytes. */
function stringFieldBytes(s: Str): number {
  return stringBytes(s.bytes);
}

/** The same, from the string's UTF-8 byte length. */
function stringBytes(bytes: number): number {
  return bytes === 0 ? 0 : fieldBytes(bytes);
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
  return { text, bytes: Buffer.byteLength(text, 'utf8'), encoded: undefined };
}

/** A string from a small set (a reason code, a stage, a field name): its bytes are kept. */
function knownStr(text: string): Str {
  const encoded = knownBytes(text);
  return encoded === undefined ? str(text) : { text, bytes: encoded.length, encoded };
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
    if (s.encoded === undefined) return this.text(tag, s.text, s.bytes);
    if (s.bytes !== 0) this.byte(tag).varint(s.bytes).copy(s.encoded);
    return this;
  }

  /** Bytes already encoded. */
  copy(bytes: Uint8Array): this {
    const buf = this.buf;
    let pos = this.pos;
    const n = bytes.length;
    if (n > COPY_LOOP_BYTES) {
      buf.set(bytes, pos);
      pos += n;
    } else {
      for (let i = 0; i < n; i++) buf[pos++] = bytes[i]!;
    }
    this.pos = pos;
    return this;
  }

  text(tag: number, text: string, bytes: number): this {
    if (bytes === 0) return this;
    this.byte(tag).varint(bytes);
    if (bytes !== text.length) {
      this.pos += (this.buf as unknown as NativeWrites).utf8Write(text, this.pos, bytes);
    } else if (bytes > SHORT_STRING) {
      // ASCII: latin1 bytes are the UTF-8 bytes, and latin1 is the cheaper native write.
      // Buffer#latin1Write is what write(…, 'latin1') calls after its argument checks.
      this.pos += (this.buf as unknown as NativeWrites).latin1Write(text, this.pos, bytes);
    } else {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < bytes; i++) buf[pos++] = text.charCodeAt(i);
      this.pos = pos;
    }
    return this;
  }

  headerOpts(tag: number, list: HeaderList): void {
    for (let i = 0; i < list.count; i++) {
      this.byte(tag).varint(list.bytes[i]!);
      this.byte(T1_LEN).varint(list.headerValueBytes[i]!);
      const key = list.keyEncoded[i];
      if (key === undefined) this.text(T1_LEN, list.keys[i]!, list.keyBytes[i]!);
      else if (key.length !== 0) this.byte(T1_LEN).varint(key.length).copy(key);
      this.text(T2_LEN, list.values[i]!, list.valueBytes[i]!);
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
