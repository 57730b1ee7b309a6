// Big-endian readers and writers for the Kafka wire protocol (non-flexible
// request/response versions) plus the zig-zag varints record batches use.
// Written from Kafka's protocol guide; int64 values travel as bigint.

export class WireReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`truncated: need ${n} bytes at ${this.pos}`);
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** STRING / NULLABLE_STRING: int16 length, -1 for null. */
  string(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** BYTES / NULLABLE_BYTES: int32 length, -1 for null. */
  bytes(): Buffer | null {
    const len = this.int32();
    if (len < 0) return null;
    return this.raw(len);
  }

  raw(len: number): Buffer {
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  array<T>(item: (r: WireReader) => T): T[] {
    const n = this.int32();
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }

  /** Unsigned LEB128 up to 2^53, then zig-zag decoded (varint and varlong alike). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      this.need(1);
      const byte = this.buf[this.pos++] as number;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) break;
      scale *= 128;
      if (scale > 2 ** 56) throw new RangeError('varint too long');
    }
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
  }

  /** A varint-length-prefixed byte string (-1 for null), as records use. */
  varBytes(): Buffer | null {
    const len = this.varint();
    if (len < 0) return null;
    return this.raw(len);
  }
}

export class WireWriter {
  private readonly parts: Buffer[] = [];

  private push(size: number, fill: (b: Buffer) => void): this {
    const b = Buffer.allocUnsafe(size);
    fill(b);
    this.parts.push(b);
    return this;
  }

  int8(v: number): this {
    return this.push(1, (b) => b.writeInt8(v));
  }

  int16(v: number): this {
    return this.push(2, (b) => b.writeInt16BE(v));
  }

  int32(v: number): this {
    return this.push(4, (b) => b.writeInt32BE(v));
  }

  int64(v: bigint): this {
    return this.push(8, (b) => b.writeBigInt64BE(v));
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  string(v: string | null): this {
    if (v === null) return this.int16(-1);
    const b = Buffer.from(v, 'utf8');
    this.int16(b.length);
    this.parts.push(b);
    return this;
  }

  array<T>(items: readonly T[], item: (w: WireWriter, v: T) => void): this {
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}
