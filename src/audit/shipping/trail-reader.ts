// Reads the trail forward from a position, for the shipper: complete lines
// only (a line still being appended is left for the next read), across
// segments in chain order. A line that is not a well-formed chained event —
// corrupt bytes, an edited line, a line past the size bound — is handed to
// `onCorrupt` (quarantine) and skipped, so one bad record never stops shipping.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { chainFieldsOf } from '../hash-chain.js';
import { MAX_EVENT_BYTES } from '../event.js';
import { listSegmentsSync } from '../trail/segments.js';
import type { TrailPosition } from './checkpoint.js';
import type { TrailRecord } from './remote-sink.js';

/** Past this, a "line" is corrupt: real events are bounded far below it. */
const MAX_LINE_BYTES = 4 * MAX_EVENT_BYTES;
const CHUNK = 1024 * 1024;

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

  constructor(private readonly dir: string, private readonly onCorrupt: (c: CorruptRecord) => void) {}

  segments(): string[] {
    return listSegmentsSync(this.dir).map((s) => s.name);
  }

  /** Up to `max` records from `from`; an empty batch when the trail has nothing complete past it. */
  read(from: TrailPosition, max: number): ReadBatch {
    const records: TrailRecord[] = [];
    let pos = from;
    let bytes = 0;
    for (;;) {
      const segments = this.segments();
      const i = segments.indexOf(pos.file);
      if (i < 0) return { records, next: pos, bytes };
      const isLast = i === segments.length - 1;
      const fd = openSync(join(this.dir, pos.file), 'r');
      let size: number;
      try {
        size = fstatSync(fd).size;
        while (records.length < max && pos.offset < size) {
          const base = pos.offset;
          const n = readSync(fd, this.buf, 0, Math.min(CHUNK, size - base), base);
          let start = 0;
          let progressed = false;
          while (records.length < max) {
            const nl = this.buf.subarray(0, n).indexOf(0x0a, start);
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
      } finally {
        closeSync(fd);
      }
      if (records.length >= max || pos.offset < size || isLast) return { records, next: pos, bytes };
      pos = { file: segments[i + 1] as string, offset: 0, seq: pos.seq };
    }
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
    const fields = chainFieldsOf(line);
    if (fields === undefined) return corrupt('not a chained audit line');
    const json = line.slice(0, line.lastIndexOf(',"seq":')) + '}';
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(json) as Record<string, unknown>;
    } catch {
      return corrupt('not valid JSON');
    }
    if (typeof event.decision_id !== 'string' || typeof event.timestamp !== 'string') return corrupt('not an audit event (no decision_id/timestamp)');
    return { seq: fields.seq, json, line, event };
  }
}
