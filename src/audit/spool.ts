// The local, append-only spool for events Kafka has not acknowledged. Events
// are newline-delimited JSON in numbered segment files; a cursor file records
// how far replay has been acknowledged. A segment is only ever appended to,
// and deleted once everything in it was delivered. Every operation runs in
// order on one chain, so appends, replay reads and commits never interleave.
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { endOfLastCompleteLine, writeAll } from './file-tail.js';

export type FsyncPolicy = 'always' | 'batch' | 'never';

export interface SpoolOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly log: Logger;
}

export interface SpoolPosition {
  readonly segment: number;
  readonly offset: number;
}

interface Segment {
  readonly id: number;
  size: number;
}

const SEGMENT_RE = /^segment-(\d{16})\.ndjson$/;
const CURSOR_FILE = 'cursor.json';
const READ_CHUNK = 1024 * 1024;

function segmentName(id: number): string {
  return `segment-${String(id).padStart(16, '0')}.ndjson`;
}

export class Spool {
  private segments: Segment[] = [];
  private cursor: SpoolPosition = { segment: 1, offset: 0 };
  private nextId = 1;
  private active: { id: number; fh: FileHandle } | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private reserved = 0;
  private dirty = false;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private readonly segmentMax: number;

  private constructor(private readonly opts: SpoolOptions) {
    this.segmentMax = Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(opts.maxBytes / 8)));
  }

  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    await spool.load();
    if (opts.fsync === 'batch') {
      spool.fsyncTimer = setInterval(() => void spool.run(() => spool.syncIfDirty()), opts.fsyncIntervalMs);
      spool.fsyncTimer.unref();
    }
    return spool;
  }

  /** Undelivered bytes, including appends under way. */
  get bytes(): number {
    let total = this.reserved;
    for (const s of this.segments) total += s.size;
    const first = this.segments[0];
    if (first !== undefined && first.id === this.cursor.segment) total -= this.cursor.offset;
    return total;
  }

  /** Nothing undelivered and no append under way. */
  get isEmpty(): boolean {
    return this.bytes === 0;
  }

  /** Whether `lines` fit within max_bytes. */
  hasRoom(lines: readonly string[]): boolean {
    return this.bytes + encodedLength(lines) <= this.opts.maxBytes;
  }

  /** Appends events (one JSON text each) in order; they count as spooled when this resolves. */
  append(lines: readonly string[]): Promise<void> {
    const data = Buffer.from(lines.join('\n') + '\n', 'utf8');
    this.reserved += data.length;
    return this.run(async () => {
      try {
        await this.appendNow(data);
      } finally {
        this.reserved -= data.length;
      }
    });
  }

  /** The oldest undelivered events (up to `max`), and the position to commit once they are delivered. */
  readNext(max: number): Promise<{ lines: string[]; next: SpoolPosition }> {
    return this.run(() => this.readNow(max));
  }

  /** Marks everything before `next` delivered; drops segments that are done. */
  commit(next: SpoolPosition): Promise<void> {
    return this.run(() => this.commitNow(next));
  }

  async close(): Promise<void> {
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    await this.run(async () => {
      if (this.opts.fsync !== 'never') await this.syncIfDirty();
      await this.active?.fh.close();
      this.active = undefined;
    });
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async load(): Promise<void> {
    const dir = this.opts.dir;
    await mkdir(dir, { recursive: true });
    const ids = (await readdir(dir))
      .map((n) => SEGMENT_RE.exec(n)?.[1])
      .filter((m): m is string => m !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const id of ids) this.segments.push({ id, size: (await stat(join(dir, segmentName(id)))).size });
    this.nextId = (ids[ids.length - 1] ?? 0) + 1;
    this.cursor = await this.readCursor();
    // Segments before the cursor were delivered (deleting them is what a crash interrupted).
    while (this.segments.length > 0 && (this.segments[0] as Segment).id < this.cursor.segment) {
      await unlink(join(dir, segmentName((this.segments.shift() as Segment).id)));
    }
    const first = this.segments[0];
    if (first === undefined || first.id !== this.cursor.segment) this.cursor = { segment: first?.id ?? this.nextId, offset: 0 };
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined) await this.dropTornTail(last);
  }

  private async readCursor(): Promise<SpoolPosition> {
    try {
      const raw = JSON.parse(await readFile(join(this.opts.dir, CURSOR_FILE), 'utf8')) as Partial<SpoolPosition>;
      if (Number.isInteger(raw.segment) && Number.isInteger(raw.offset)) {
        return { segment: raw.segment as number, offset: raw.offset as number };
      }
      this.opts.log.warn('audit spool cursor unreadable; replaying from the oldest segment');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.opts.log.warn({ err: String(err) }, 'audit spool cursor unreadable; replaying from the oldest segment');
      }
    }
    return { segment: 0, offset: 0 };
  }

  /** A crash mid-append can leave a partial last line; it was never acknowledged, so it goes. */
  private async dropTornTail(seg: Segment): Promise<void> {
    const fh = await open(join(this.opts.dir, segmentName(seg.id)), 'r+');
    try {
      const complete = await endOfLastCompleteLine(fh, seg.size);
      if (complete < seg.size) {
        this.opts.log.warn({ segment: seg.id, bytes: seg.size - complete }, 'audit spool: dropping a torn last line');
        await fh.truncate(complete);
        seg.size = complete;
      }
    } finally {
      await fh.close();
    }
  }

  private async appendNow(data: Buffer): Promise<void> {
    let last = this.segments[this.segments.length - 1];
    if (last === undefined || last.size >= this.segmentMax) {
      if (this.opts.fsync !== 'never') await this.syncIfDirty();
      await this.active?.fh.close();
      this.active = undefined;
      last = { id: this.nextId++, size: 0 };
      this.segments.push(last);
    }
    if (this.active?.id !== last.id) {
      await this.active?.fh.close();
      this.active = { id: last.id, fh: await open(join(this.opts.dir, segmentName(last.id)), 'a') };
    }
    const { fh } = this.active;
    try {
      await writeAll(fh, data);
      if (this.opts.fsync === 'always') await fh.datasync();
      else this.dirty = true;
    } catch (err) {
      // Leave no partial line behind: the caller keeps the batch and retries or reports it.
      await fh.truncate(last.size).catch(() => undefined);
      throw err;
    }
    last.size += data.length;
  }

  private async readNow(max: number): Promise<{ lines: string[]; next: SpoolPosition }> {
    for (;;) {
      const seg = this.segments[0];
      if (seg === undefined) return { lines: [], next: this.cursor };
      if (this.cursor.segment !== seg.id) this.cursor = { segment: seg.id, offset: 0 };
      if (this.cursor.offset >= seg.size) {
        if (this.segments.length === 1) return { lines: [], next: this.cursor };
        await this.dropFirstSegment();
        continue;
      }
      const lines: string[] = [];
      let offset = this.cursor.offset;
      const fh = await open(join(this.opts.dir, segmentName(seg.id)), 'r');
      try {
        while (lines.length < max && offset < seg.size) {
          const len = Math.min(READ_CHUNK, seg.size - offset);
          const buf = Buffer.allocUnsafe(len);
          const { bytesRead } = await fh.read(buf, 0, len, offset);
          const text = buf.subarray(0, bytesRead);
          let start = 0;
          while (lines.length < max) {
            const nl = text.indexOf(0x0a, start);
            if (nl < 0) break;
            lines.push(text.toString('utf8', start, nl));
            start = nl + 1;
          }
          if (start === 0) throw new Error(`audit spool: line longer than ${READ_CHUNK} bytes in ${segmentName(seg.id)}`);
          offset += start;
        }
      } finally {
        await fh.close();
      }
      return { lines, next: { segment: seg.id, offset } };
    }
  }

  private async commitNow(next: SpoolPosition): Promise<void> {
    this.cursor = next;
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && next.segment === last.id && next.offset >= last.size && this.reserved === 0) {
      // Everything delivered: start over with an empty spool (segments are never rewritten).
      await this.active?.fh.close();
      this.active = undefined;
      for (const s of this.segments.splice(0)) await unlink(join(this.opts.dir, segmentName(s.id)));
      this.cursor = { segment: this.nextId, offset: 0 };
      await unlink(join(this.opts.dir, CURSOR_FILE)).catch(() => undefined);
      this.dirty = false;
      return;
    }
    const first = this.segments[0];
    if (first !== undefined && first.id === next.segment && next.offset >= first.size && this.segments.length > 1) {
      await this.dropFirstSegment();
    }
    await this.writeCursor();
  }

  private async dropFirstSegment(): Promise<void> {
    const done = this.segments.shift() as Segment;
    if (this.active?.id === done.id) {
      await this.active.fh.close();
      this.active = undefined;
    }
    this.cursor = { segment: (this.segments[0] as Segment).id, offset: 0 };
    await this.writeCursor();
    await unlink(join(this.opts.dir, segmentName(done.id)));
  }

  private async writeCursor(): Promise<void> {
    const file = join(this.opts.dir, CURSOR_FILE);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(this.cursor));
    if (this.opts.fsync === 'always') {
      const fh = await open(tmp, 'r');
      await fh.sync().finally(() => fh.close());
    }
    await rename(tmp, file);
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.active === undefined) return;
    this.dirty = false;
    await this.active.fh.datasync();
  }
}

function encodedLength(lines: readonly string[]): number {
  let n = 0;
  for (const l of lines) n += Buffer.byteLength(l, 'utf8') + 1;
  return n;
}
