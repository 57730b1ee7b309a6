// Random (version 4) UUIDs for decision and request ids, as crypto.randomUUID()
// makes them — from the same kind of pooled CSPRNG bytes — but as one flat
// string. node's randomUUID() joins 20 pieces with `+`, which leaves a rope of
// ~20 cons strings (~600 bytes of garbage per id) that every later reader
// (header encoding, byte-length checks, audit JSON) first has to flatten;
// here the 36 characters are written into a scratch buffer and read out once.
import { randomFillSync } from 'node:crypto';

const UUID_BYTES = 16;
/** Entropy for this many ids is fetched at once (node's randomUUID() caches 128 too). */
const POOL_IDS = 128;

const pool = Buffer.allocUnsafe(UUID_BYTES * POOL_IDS);
let next = pool.length;
const text = Buffer.allocUnsafe(36);

/** Lower-case hex digits of each byte value: HEX[2b], HEX[2b + 1]. */
const HEX = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const digits = b.toString(16).padStart(2, '0');
  HEX[2 * b] = digits.charCodeAt(0);
  HEX[2 * b + 1] = digits.charCodeAt(1);
}
const DASH = 0x2d;

interface Latin1Slice {
  latin1Slice(start: number, end: number): string;
}

/** xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx (N one of 8, 9, a, b): RFC 9562 version 4, variant 10. */
export function randomUuid(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const at = next;
  next += UUID_BYTES;
  pool[at + 6] = (pool[at + 6]! & 0x0f) | 0x40;
  pool[at + 8] = (pool[at + 8]! & 0x3f) | 0x80;
  let p = 0;
  for (let i = 0; i < UUID_BYTES; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[p++] = DASH;
    const h = 2 * pool[at + i]!;
    text[p++] = HEX[h]!;
    text[p++] = HEX[h + 1]!;
  }
  return (text as unknown as Latin1Slice).latin1Slice(0, 36);
}
