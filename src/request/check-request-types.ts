// The shape of an Envoy ext_authz v3 CheckRequest after decoding: what
// protobufjs produces from the wire (camelCase names, unset messages null,
// unset scalars at their defaults) and what the proto3 JSON reader builds.
// Every field is optional so a hostile or truncated message type-checks as
// what it is: possibly missing anything.

export interface DecodedStruct {
  fields?: Record<string, DecodedValue> | null;
}

/** google.protobuf.Value: exactly one member set (protobufjs leaves the others unset). */
export interface DecodedValue {
  nullValue?: number | string | null;
  numberValue?: number | null;
  stringValue?: string | null;
  boolValue?: boolean | null;
  structValue?: DecodedStruct | null;
  listValue?: { values?: DecodedValue[] | null } | null;
}

export interface DecodedMetadata {
  filterMetadata?: Record<string, DecodedStruct> | null;
}

export interface DecodedHeaderValue {
  key?: string | null;
  value?: string | null;
  rawValue?: Uint8Array | null;
}

export interface DecodedAddress {
  socketAddress?: {
    address?: string | null;
    portValue?: number | null;
    namedPort?: string | null;
  } | null;
  pipe?: { path?: string | null } | null;
  envoyInternalAddress?: { serverListenerName?: string | null } | null;
}

export interface DecodedPeer {
  address?: DecodedAddress | null;
  service?: string | null;
  labels?: Record<string, string> | null;
  principal?: string | null;
  certificate?: string | null;
}

export interface DecodedHttpRequest {
  id?: string | null;
  method?: string | null;
  headers?: Record<string, string> | null;
  /**
   * The `headers` map as the gRPC reader found it on the wire: name, value,
   * name, value... in arrival order. Used instead of `headers` when present
   * (it saves building an object per request); a name the map repeats is
   * treated like a repeated header.
   */
  headerEntries?: string[] | null;
  headerMap?: { headers?: DecodedHeaderValue[] | null } | null;
  path?: string | null;
  host?: string | null;
  scheme?: string | null;
  query?: string | null;
  fragment?: string | null;
  /** int64: a Long from the wire, a number or string from JSON. Not used for decisions. */
  size?: unknown;
  protocol?: string | null;
  body?: string | null;
  rawBody?: Uint8Array | null;
}

export interface DecodedAttributeContext {
  source?: DecodedPeer | null;
  destination?: DecodedPeer | null;
  request?: {
    time?: { seconds?: unknown; nanos?: number | null } | null;
    http?: DecodedHttpRequest | null;
  } | null;
  contextExtensions?: Record<string, string> | null;
  metadataContext?: DecodedMetadata | null;
  routeMetadataContext?: DecodedMetadata | null;
  tlsSession?: { sni?: string | null } | null;
}

export interface DecodedCheckRequest {
  attributes?: DecodedAttributeContext | null;
}
