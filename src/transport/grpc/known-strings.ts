// The UTF-8 bytes of strings every CheckResponse repeats — header names,
// owned header names to remove, reason codes, stage names — kept once, so
// writing one is a short byte copy instead of a call into the runtime
// (Buffer#write costs ~60 ns however short the string; a copy ~15 ns).
// Bounded: once KNOWN_MAX strings are kept, others are not (the caller writes
// them as before), so what a policy or a client puts in a name cannot grow it;
// and only short ones are kept: a client may send owned-prefixed header names
// up to the request's header limit, which must not be held for the process's life.

const KNOWN_MAX = 1024;
/** Longer strings are never kept (the repeated ones — header names, reason codes, stages — are short). */
export const KNOWN_MAX_LENGTH = 64;
const known = new Map<string, Uint8Array>();

/** The UTF-8 bytes of `text`, or undefined when it is not kept (and the table is full). */
export function knownBytes(text: string): Uint8Array | undefined {
  let bytes = known.get(text);
  if (bytes === undefined && known.size < KNOWN_MAX && text.length <= KNOWN_MAX_LENGTH) {
    bytes = new Uint8Array(Buffer.from(text, 'utf8'));
    known.set(text, bytes);
  }
  return bytes;
}
