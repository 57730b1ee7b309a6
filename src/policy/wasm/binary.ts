// Reading and writing the WebAssembly binary format's basic encodings
// (LEB128 integers, sections), as the core spec defines them. Just enough
// for the interrupt instrumentation to walk a module and re-emit it.

export class WasmFormatError extends Error {
  override readonly name = 'WasmFormatError';
}

/** A cursor over module bytes; every read checks bounds and throws WasmFormatError. */
export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError('unexpected end of module');
    return this.bytes[this.pos++]!;
  }

  peek(): number {
    if (this.pos >= this.end) throw new WasmFormatError('unexpected end of module');
    return this.bytes[this.pos]!;
  }

  /** Unsigned LEB128, at most 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    throw new WasmFormatError('LEB128 integer too long');
  }

  /** Skips a signed LEB128 of at most `maxBytes` bytes (i32: 5, i64: 10, s33: 5). */
  skipSigned(maxBytes: number): void {
    for (let i = 0; i < maxBytes; i++) if ((this.byte() & 0x80) === 0) return;
    throw new WasmFormatError('LEB128 integer too long');
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw new WasmFormatError('unexpected end of module');
    this.pos += n;
  }
}

export function encodeU32(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

export function encodeI32(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    const signBit = (b & 0x40) !== 0;
    if ((v === 0 && !signBit) || (v === -1 && signBit)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export interface Section {
  readonly id: number;
  /** The section's content, without id and size. */
  readonly body: Uint8Array;
}

export const WASM_HEADER = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);

export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || !WASM_HEADER.every((b, i) => bytes[i] === b)) {
    throw new WasmFormatError('not a WebAssembly 1.0 binary module');
  }
  const r = new Reader(bytes, 8);
  const sections: Section[] = [];
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    sections.push({ id, body: bytes.subarray(start, start + size) });
  }
  return sections;
}

export function writeModule(sections: readonly Section[]): Uint8Array {
  const parts: Uint8Array[] = [WASM_HEADER];
  for (const s of sections) {
    parts.push(Uint8Array.of(s.id, ...encodeU32(s.body.length)), s.body);
  }
  return Buffer.concat(parts);
}

/** A vector section's item count and where its items start. */
export function vectorOf(body: Uint8Array): { count: number; items: Uint8Array } {
  const r = new Reader(body);
  const count = r.u32();
  return { count, items: body.subarray(r.pos) };
}

/** The same vector with extra items appended (their encodings concatenated). */
export function appendToVector(body: Uint8Array | undefined, extra: readonly number[][]): Uint8Array {
  const { count, items } = body === undefined ? { count: 0, items: new Uint8Array(0) } : vectorOf(body);
  return Buffer.concat([Uint8Array.from(encodeU32(count + extra.length)), items, Uint8Array.from(extra.flat())]);
}
