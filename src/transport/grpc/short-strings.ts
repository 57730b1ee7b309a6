// Short ASCII string fields, read once per distinct text. Most strings of a
// CheckRequest are the same from one request to the next — header names,
// methods, schemes, protocol, host, content types, peer addresses — and each
// used to be a new string per request: garbage for the young-generation GC,
// and a fresh key that every `headers[name]` has to hash again. A small
// direct-mapped table keyed by a hash of the bytes hands back the string read
// last time when the bytes are the same; otherwise the bytes are read into a
// new string that takes the slot. Bounded (SLOTS strings of at most
// MAX_BYTES) whatever a client sends: a hostile sender only churns the table.
//
// Strings are immutable, so handing out the same string for the same bytes
// changes nothing a reader can observe.

/** Fields of up to this many bytes go through the table; longer ones (tokens, paths, ids) never repeat enough. */
export const SHORT_STRING_MAX_BYTES = 32;
const SLOTS = 1024; // a power of two

const table: Array<string | undefined> = new Array<string | undefined>(SLOTS).fill(undefined);
/**
 * Each slot's bytes (MAX_BYTES apart) and length: a lookup compares bytes
 * with bytes. Comparing with the string itself is slower: a string used as a
 * property key may have become a ThinString, whose characters are one more
 * indirection away.
 */
const slotBytes = new Uint8Array(SLOTS * SHORT_STRING_MAX_BYTES);
const slotLength = new Int32Array(SLOTS).fill(-1);

interface Latin1Slice {
  latin1Slice(start: number, end: number): string;
}

/**
 * The text of buf[start, end) when every byte is ASCII (then Latin-1 and
 * UTF-8 read the same), else undefined. At most SHORT_STRING_MAX_BYTES bytes.
 */
export function shortAsciiString(buf: Buffer, start: number, end: number): string | undefined {
  const n = end - start;
  // FNV-1a over the bytes, seeded with the length.
  let h = 0x811c9dc5 ^ n;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return undefined;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h ^ (h >>> 16)) & (SLOTS - 1);
  const at = slot * SHORT_STRING_MAX_BYTES;
  if (slotLength[slot] === n) {
    let i = 0;
    while (i < n && slotBytes[at + i] === buf[start + i]) i++;
    if (i === n) return table[slot];
  }
  for (let i = 0; i < n; i++) slotBytes[at + i] = buf[start + i]!;
  slotLength[slot] = n;
  const text = (buf as unknown as Latin1Slice).latin1Slice(start, end);
  table[slot] = text;
  return text;
}
