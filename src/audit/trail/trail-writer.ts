// The write-ahead trail: the decision thread appends each decision's event,
// hash-chained, with one write(2) into the page cache before the answer
// leaves the process (a synchronous append measured cheaper per decision
// than a group commit that holds answers for a turn; see docs/audit.md).
//
// Durability beyond the page cache is the fsync policy: `always` fdatasyncs
// each event before append() returns; `interval` fdatasyncs every
// fsync_interval_ms off the decision thread; `never` leaves it to the OS.
// The chain head is written after each of those syncs (or each interval for
// `never`), so the head never records more than the disk holds.
//
// Segments rotate at segment_bytes and at each UTC day; past max_bytes the
// oldest segments that every remote sink has shipped are deleted, never one
// that is not; when nothing can be deleted the trail is full.
import { closeSync, fdatasync, fdatasyncSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync, close as closeFd } from 'node:fs';
import { appendFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.js';
import type { FsyncPolicy } from '../config.js';
import { BASE_FILE, BREAKS_FILE, chainFieldsOf, chainTail, hashLine, HEAD_FILE, type ChainHead } from '../hash-chain.js';
import { HeadFile } from './head-file.js';
import { lockTrailDir } from './lock.js';
import { recoverTail, type ChainBreak } from './recover.js';
import { listSegments, segmentFileName } from './segments.js';

export interface TrailWriterOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly segmentBytes: number;
  readonly maxBytes: number;
  readonly log: Logger;
  /** The clock (ms) that picks the segment's day; for tests. */
  readonly now?: () => number;
}

export interface TrailSegment {
  readonly name: string;
  readonly firstSeq: number | undefined;
  size: number;
}

export type AppendFailure = 'full' | 'error';

const DAY_MS = 86_400_000;

export class TrailWriter {
  /** Segments in chain order; the last one is being appended to. */
  readonly segments: TrailSegment[] = [];
  private fd = -1;
  private seq = 0;
  private prevHash = '';
  private lines = 0;
  private lastLineOffset = 0;
  private nextDayAt = 0;
  private totalBytes = 0;
  private dirty = false;
  private syncing = false;
  private timer: NodeJS.Timeout | undefined;
  private releaseLock: (() => void) | undefined;
  private closed = false;
  /** Every remote sink has shipped up to here (Infinity without remote sinks): segments before it may go. */
  private shippedSeq = Infinity;
  /** Why the last append failed, until one succeeds. */
  lastFailure: { readonly kind: AppendFailure; readonly message: string; readonly at: number } | undefined;
  readonly breaks: ChainBreak[] = [];
  torn: { readonly file: string; readonly bytes: number } | undefined;
  /** Counters the metrics read. */
  writeErrors = 0;
  fsyncErrors = 0;
  headErrors = 0;
  private readonly now: () => number;
  /** The line being appended, encoded (grown when an event needs more). */
  private line = Buffer.allocUnsafeSlow(16 * 1024);
  private readonly headFile: HeadFile;

  private constructor(private readonly opts: TrailWriterOptions) {
    this.now = opts.now ?? Date.now;
    this.headFile = new HeadFile(join(opts.dir, HEAD_FILE), (err) => {
      // The data is appended already; a stale head only shortens what verify can vouch for.
      this.headErrors++;
      this.opts.log.warn({ err: errorText(err) }, 'audit trail: the chain head could not be written');
    });
  }

  /** Opens (creating) the trail: lock, recover the tail, record breaks, start a new segment. Throws when it cannot. */
  static async open(opts: TrailWriterOptions): Promise<TrailWriter> {
    const w = new TrailWriter(opts);
    await mkdir(opts.dir, { recursive: true });
    w.releaseLock = lockTrailDir(opts.dir);
    try {
      await w.recover();
      w.startSegment();
    } catch (err) {
      w.releaseLock();
      if (w.fd >= 0) closeSync(w.fd);
      throw err;
    }
    w.timer = setInterval(() => w.tick(), opts.fsyncIntervalMs);
    w.timer.unref();
    return w;
  }

  get lastSeq(): number {
    return this.seq;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** True while the last append failed (the disk is full or unwritable). */
  get failing(): boolean {
    return this.lastFailure !== undefined;
  }

  /** Would an append be refused for lack of room (max_bytes reached, nothing shipped to delete)? */
  get full(): boolean {
    return this.lastFailure?.kind === 'full';
  }

  /**
   * Appends one event (its JSON text) to the chain; true once it is in the
   * page cache (and on disk for fsync=always). Never throws: false, with
   * `lastFailure` saying why, when it could not be written — nothing partial
   * stays behind and the chain does not advance.
   */
  append(json: string): boolean {
    if (this.closed) return this.fail('error', 'the trail is closed');
    const seq = this.seq + 1;
    // The line is encoded once into a reused buffer: the same bytes are written and hashed.
    const length = this.encodeLine(json, chainTail(seq, this.prevHash));
    const active = this.segments[this.segments.length - 1] as TrailSegment;
    try {
      if (active.size + length > this.opts.segmentBytes || this.now() >= this.nextDayAt) this.rotate();
      if (this.totalBytes + length > this.opts.maxBytes && !this.makeRoom(length)) {
        return this.fail('full', `the trail holds ${this.totalBytes} bytes (max_bytes ${this.opts.maxBytes}) and nothing shipped can be deleted`);
      }
    } catch (err) {
      this.writeErrors++;
      return this.fail('error', errorText(err));
    }
    const segment = this.segments[this.segments.length - 1] as TrailSegment;
    const line = this.line;
    try {
      let written = 0;
      while (written < length) written += writeSync(this.fd, line, written, length - written);
      if (this.opts.fsync === 'always') fdatasyncSync(this.fd);
    } catch (err) {
      this.writeErrors++;
      try {
        ftruncateSync(this.fd, segment.size);
      } catch {
        // the write error said enough
      }
      return this.fail('error', errorText(err));
    }
    this.lastLineOffset = segment.size;
    segment.size += length;
    this.totalBytes += length;
    this.lines++;
    this.seq = seq;
    this.prevHash = hashLine(line.subarray(0, length - 1));
    this.dirty = true;
    this.lastFailure = undefined;
    return true;
  }

  /** `json` with its closing brace replaced by `tail`, and '\n', into `this.line`; returns the byte length. */
  private encodeLine(json: string, tail: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the tail is ASCII.
    const worst = json.length * 3 + tail.length + 1;
    if (worst > this.line.length) this.line = Buffer.allocUnsafeSlow(Math.max(worst, 2 * this.line.length));
    const body = this.line.write(json, 0, 'utf8') - 1; // without the closing brace
    const end = body + this.line.write(tail, body, 'latin1');
    this.line[end] = 0x0a;
    return end + 1;
  }

  /** The remote sinks' progress: every line up to `seq` is shipped everywhere. */
  setShippedSeq(seq: number): void {
    this.shippedSeq = seq;
    if (this.full) this.lastFailure = undefined; // the next append may find room
  }

  /** Final sync and head; releases the lock unless told to keep it (the shipper still drains the trail). */
  async close(opts: { keepLock?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    while (this.syncing) await new Promise((r) => setTimeout(r, 5));
    if (this.opts.fsync !== 'never') {
      try {
        fdatasyncSync(this.fd);
      } catch (err) {
        this.fsyncErrors++;
        this.opts.log.error({ err: errorText(err) }, 'audit trail: final fsync failed');
      }
    }
    await this.writeHead(this.headNow());
    await this.headFile.close();
    closeSync(this.fd);
    if (!opts.keepLock) this.unlock();
  }

  /** Lets another sidecar open this trail. */
  unlock(): void {
    this.releaseLock?.();
    this.releaseLock = undefined;
  }

  private fail(kind: AppendFailure, message: string): false {
    if (this.lastFailure?.message !== message) {
      this.opts.log.error({ dir: this.opts.dir, reason: message }, 'audit trail: cannot append');
    }
    this.lastFailure = { kind, message, at: this.now() };
    return false;
  }

  private async recover(): Promise<void> {
    const names = await listSegments(this.opts.dir);
    const tail = await recoverTail(this.opts.dir, names);
    for (const s of names) {
      const size = tail.sizes.get(s.name) ?? 0;
      this.segments.push({ name: s.name, firstSeq: s.firstSeq, size });
      this.totalBytes += size;
    }
    this.seq = tail.seq;
    this.prevHash = tail.prevHash;
    this.torn = tail.torn;
    if (tail.torn) {
      this.opts.log.warn({ file: tail.torn.file, bytes: tail.torn.bytes },
        'audit trail: a torn last line (a crash in the middle of an append) was cut off; its answer never left');
    }
    if (tail.breaks.length > 0) {
      const at = new Date(this.now()).toISOString();
      const records = tail.breaks.map((b) => JSON.stringify({ detected_at: at, ...b, continued_at_seq: tail.seq + 1 }) + '\n');
      await appendFile(join(this.opts.dir, BREAKS_FILE), records.join(''));
      for (const b of tail.breaks) this.breaks.push(b);
      this.opts.log.error({ breaks: tail.breaks }, `audit trail: the chain is broken; recorded in ${BREAKS_FILE}, continuing after it`);
    }
  }

  /** Starts a new segment whose first line will be seq+1. */
  private startSegment(): void {
    const at = this.now();
    const name = segmentFileName(new Date(at), this.seq + 1);
    const fd = openSync(join(this.opts.dir, name), 'a');
    const existing = this.segments.find((s) => s.name === name);
    const old = this.fd;
    this.fd = fd;
    this.nextDayAt = (Math.floor(at / DAY_MS) + 1) * DAY_MS;
    this.lines = 0;
    this.lastLineOffset = 0;
    if (existing === undefined) this.segments.push({ name, firstSeq: this.seq + 1, size: 0 });
    else if (existing.size > 0) throw new Error(`audit trail: segment ${name} already holds data past the chain's end`);
    if (old >= 0) {
      // Off the decision thread: the old segment's data reaches the disk, then the fd goes.
      if (this.opts.fsync === 'never') closeFd(old, () => undefined);
      else fdatasync(old, () => closeFd(old, () => undefined));
    }
  }

  private rotate(): void {
    this.startSegment();
    void this.writeHead(this.headNow());
  }

  /** Deletes the oldest fully shipped segments until `length` more bytes fit; false when they cannot. */
  private makeRoom(length: number): boolean {
    while (this.totalBytes + length > this.opts.maxBytes && this.segments.length > 1) {
      const oldest = this.segments[0] as TrailSegment;
      const next = this.segments[1] as TrailSegment;
      // A daily file of an earlier version has no seq in its name: never deleted automatically.
      if (oldest.firstSeq === undefined || next.firstSeq === undefined) return false;
      if (next.firstSeq - 1 > this.shippedSeq) return false;
      this.writeBase(next);
      unlinkSync(join(this.opts.dir, oldest.name));
      this.segments.shift();
      this.totalBytes -= oldest.size;
      this.opts.log.info({ segment: oldest.name, bytes: oldest.size }, 'audit trail: retention deleted a shipped segment');
    }
    return this.totalBytes + length <= this.opts.maxBytes;
  }

  /** Records where the chain now starts, so `audit verify` accepts the missing prefix as retention's. */
  private writeBase(next: TrailSegment): void {
    const fd = openSync(join(this.opts.dir, next.name), 'r');
    let first: string;
    try {
      const buf = Buffer.allocUnsafe(Math.min(next.size, 1024 * 1024));
      const n = readSync(fd, buf, 0, buf.length, 0);
      const nl = buf.subarray(0, n).indexOf(0x0a);
      first = buf.toString('utf8', 0, nl < 0 ? n : nl);
    } finally {
      closeSync(fd);
    }
    const fields = chainFieldsOf(first);
    if (fields === undefined) throw new Error(`audit trail: ${next.name} does not start with a chained line; retention stopped`);
    const tmp = join(this.opts.dir, `${BASE_FILE}.tmp`);
    const fdw = openSync(tmp, 'w');
    try {
      writeSync(fdw, JSON.stringify({ seq: fields.seq, prev_hash: fields.prevHash, file: next.name }) + '\n');
    } finally {
      closeSync(fdw);
    }
    // rename is atomic; a crash leaves the old base or the new one.
    void rename(tmp, join(this.opts.dir, BASE_FILE)).catch(() => undefined);
  }

  private headNow(): ChainHead | undefined {
    if (this.seq === 0) return undefined;
    const active = this.segments[this.segments.length - 1] as TrailSegment;
    if (this.lines === 0) return undefined; // a fresh segment: the previous head still stands
    return { file: active.name, line: this.lines, seq: this.seq, hash: this.prevHash, offset: this.lastLineOffset };
  }

  /** Every interval: sync (per policy), then record the head; off the decision thread. */
  private tick(): void {
    if (!this.dirty || this.syncing || this.closed) return;
    this.dirty = false;
    this.syncing = true;
    const head = this.headNow();
    const afterSync = (err: NodeJS.ErrnoException | null): void => {
      if (err) {
        this.fsyncErrors++;
        this.dirty = true;
        this.syncing = false;
        this.opts.log.error({ err: errorText(err) }, 'audit trail: fsync failed');
        return;
      }
      void this.writeHead(head).finally(() => {
        this.syncing = false;
      });
    };
    if (this.opts.fsync === 'interval') fdatasync(this.fd, afterSync);
    else afterSync(null);
  }

  private async writeHead(head: ChainHead | undefined): Promise<void> {
    if (head !== undefined) await this.headFile.write(head);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

