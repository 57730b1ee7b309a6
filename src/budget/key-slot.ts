// The Redis Cluster slot of a key (CRC16/XMODEM of its hash tag, mod 16384),
// as the cluster specification defines it. A script may only touch keys of
// one slot, so the backend groups charges by slot and checks each charge's
// keys before it sends them.

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export const SLOTS = 16384;

/** The part of a key that is hashed: the first non-empty `{...}`, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

export function keySlot(key: string): number {
  const bytes = Buffer.from(hashTag(key), 'utf8');
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc % SLOTS;
}

/** The slot all keys share, or -1 when they do not (a script over them would be refused with CROSSSLOT). */
export function sharedSlot(keys: readonly string[]): number {
  const slot = keySlot(keys[0]!);
  for (let i = 1; i < keys.length; i++) if (keySlot(keys[i]!) !== slot) return -1;
  return slot;
}
