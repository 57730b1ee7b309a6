// Reads the trail forward from a position, for the shipper: complete lines
// only (a line still being appended is left for the next read), across
// segments in chain order. A line that is not a well-formed chained event —
// corrupt bytes, an edited line, a line past the size bound — is handed to
// `onCorrupt` (quarantine) and skipped, so one bad record never stops shipping.
//
// Per read it costs one fstat and one pread of the segment it is in: the
// segment stays open while it is read, and the directory is listed again
// only when the position leaves the segments it knows, or at the end of the
// newest one it knows (a rotation may have started another) at most every
// LIST_MS, and always when asked to look (drain: is there anything left?).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_EVENT_BYTES } from '../event.js';
import { listSegmentsSync } from '../trail/segments.js';
import type { TrailPosition } from './checkpoint.js';
import { readChainedLine, type ChainedEvent, type EventHead } from './event-head.js';
import type { TrailRecord } from './remote-sink.js';

/** Past this, a "line" is corrupt: real events are bounded far below it. */
const MAX_LINE_BYTES = 4 * MAX_EVENT_BYTES;
const CHUNK = 1024 * 1024;
/** A read asks for this much per event still wanted (events are ~1 KiB), at least READ_MIN. */
const READ_PER_EVENT = 2048;
const READ_MIN = 64 * 1024;
/** How often the end of the newest known segment sends the reader to look for a newer one. */
const LIST_MS = 200;

/** A record as read: the event object only when a sink asks for it. */
class ReadRecord implements TrailRecord {
  readonly seq: number;
  readonly json: string;
  readonly head: EventHead;
  private parsed: Readonly<Record<string, unknown>> | undefined;

  constructor(readonly line: string, e: ChainedEvent) {
    this.seq = e.seq;
    this.json = e.json;
    this.head = e.head;
    this.parsed = e.parsed;
  }

  get event(): Readonly<Record<string, unknown>> {
    // The line was checked to be a JSON object when it was read.
    this.parsed ??= JSON.parse(this.json) as Record<string, unknown>;
    return this.parsed;
  }
}

export interface CorruptRecord {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  readonly why: string;
  readonly sample: string;
}

export interface ReadBatch {
  readonly records: TrailRecord[];
  /** Where the next read starts (commit it once the batch is delivered). */
  readonly next: TrailPosition;
  /** Bytes the batch covers (including skipped corrupt lines). */
  readonly bytes: number;
}

export class TrailReader {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private listed: string[] = [];
  private listedAt = -Infinity;
  private open: { readonly file: string; readonly fd: number } | undefined;

  constructor(private readonly dir: string, private readonly onCorrupt: (c: CorruptRecord) => void) {}

  /** The segment files in chain order, listed now. */
  segments(): string[] {
    this.listed = listSegmentsSync(this.dir).map((s) => s.name);
    this.listedAt = performance.now();
    return this.listed;
  }

  /** Closes the segment being read (the next read opens it again). */
  close(): void {
    if (this.open !== undefined) closeSync(this.open.fd);
    this.open = undefined;
  }

  /**
   * Up to `max` records from `from`; an empty batch when the trail has nothing complete past it.
   * `look`: list the directory at the end of the newest segment whenever it is reached (draining).
   */
  read(from: TrailPosition, max: number, look = false): ReadBatch {
    const records: TrailRecord[] = [];
    let pos = from;
    let bytes = 0;
    for (;;) {
      let segments = this.listed;
      let i = segments.indexOf(pos.file);
      if (i < 0) {
        segments = this.segments();
        i = segments.indexOf(pos.file);
        if (i < 0) {
          this.close();
          return { records, next: pos, bytes };
        }
      }
      const fd = this.fdOf(pos.file);
      let size = fstatSync(fd).size;
      if (i === segments.length - 1 && pos.offset >= size && (look || performance.now() - this.listedAt >= LIST_MS)) {
        // At the end of the newest segment known: has a rotation started another?
        segments = this.segments();
        i = segments.indexOf(pos.file);
        size = fstatSync(fd).size; // lines appended before the rotation
      }
      const isLast = i === segments.length - 1;
      let whole = false;
      while (records.length < max && pos.offset < size) {
        const base = pos.offset;
        // About what the batch needs (a backlog is not read a megabyte at a time for 80 events);
        // all there is, up to CHUNK, when that held no complete line.
        const available = Math.min(CHUNK, size - base);
        const wanted = whole ? available : Math.min(available, Math.max(READ_MIN, (max - records.length) * READ_PER_EVENT));
        const n = readSync(fd, this.buf, 0, wanted, base);
        const chunk = this.buf.subarray(0, n);
        let start = 0;
        let progressed = false;
        while (records.length < max) {
          const nl = chunk.indexOf(0x0a, start);
          if (nl < 0) break;
          const at = base + start;
          const length = nl - start + 1;
          const record = this.parse(this.buf.toString('utf8', start, nl), pos.file, at, length);
          if (record !== undefined) records.push(record);
          pos = { file: pos.file, offset: at + length, seq: record?.seq ?? pos.seq };
          bytes += length;
          start = nl + 1;
          progressed = true;
        }
        if (!progressed && !whole && wanted < available) {
          whole = true; // a line longer than what was asked for: read again, all of it
          continue;
        }
        whole = false;
        if (!progressed) {
          const pending = size - pos.offset;
          // A partial line: still being appended (the last segment), or garbage.
          if (pending > MAX_LINE_BYTES || (!isLast && n === pending)) {
            const skip = this.skipLine(fd, pos.offset, size);
            this.onCorrupt({ file: pos.file, offset: pos.offset, bytes: skip, why: skip > MAX_LINE_BYTES ? 'a line longer than any event' : 'an unterminated line', sample: this.buf.toString('utf8', 0, Math.min(n, 200)) });
            pos = { file: pos.file, offset: pos.offset + skip, seq: pos.seq };
            bytes += skip;
            continue;
          }
          break;
        }
      }
      if (records.length >= max || pos.offset < size || isLast) return { records, next: pos, bytes };
      pos = { file: segments[i + 1] as string, offset: 0, seq: pos.seq };
    }
  }

  /** The open fd of `file` (the previous segment's is closed). */
  private fdOf(file: string): number {
    if (this.open?.file === file) return this.open.fd;
    this.close();
    const fd = openSync(join(this.dir, file), 'r');
    this.open = { file, fd };
    return fd;
  }

  /** Bytes up to and including the next '\n' from `offset` (or to the end). */
  private skipLine(fd: number, offset: number, size: number): number {
    let at = offset;
    const b = Buffer.allocUnsafe(64 * 1024);
    while (at < size) {
      const n = readSync(fd, b, 0, Math.min(b.length, size - at), at);
      const nl = b.subarray(0, n).indexOf(0x0a);
      if (nl >= 0) return at + nl + 1 - offset;
      at += n;
    }
    return size - offset;
  }

  private parse(line: string, file: string, offset: number, length: number): TrailRecord | undefined {
    const corrupt = (why: string): undefined => {
      this.onCorrupt({ file, offset, bytes: length, why, sample: line.slice(0, 200) });
      return undefined;
    };
    if (length > MAX_LINE_BYTES) return corrupt('a line longer than any event');
    const event = readChainedLine(line);
    return typeof event === 'string' ? corrupt(event) : new ReadRecord(line, event);
  }
}
