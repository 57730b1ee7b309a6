// The trace id from a W3C `traceparent` header
// (version "-" trace-id "-" parent-id "-" flags, lower-case hex).
const HEX32 = /^[0-9a-f]{32}$/;

/** The 32-hex trace id, or null when the header is absent, malformed or all zeros. */
export function traceIdFrom(traceparent: string | undefined): string | null {
  if (traceparent === undefined || traceparent.length < 55 || traceparent[2] !== '-') return null;
  const id = traceparent.slice(3, 35);
  if (traceparent[35] !== '-' || !HEX32.test(id) || id === '00000000000000000000000000000000') return null;
  return id;
}
