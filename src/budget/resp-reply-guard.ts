// Watches what a Redis connection sends before ioredis' decoder reads it, and
// destroys the connection when the stream cannot be a well-formed answer to
// us: a reply larger than `maxReplyBytes` (or announcing a larger bulk string
// or array), nesting deeper than we ever read, a RESP3-only type on this
// RESP2 connection (we never send HELLO 3), or broken framing.
//
// Why here: ioredis' decoder buffers a bulk string until it is complete and
// fills an array element by element, with no limit (a 1 GiB bulk string took
// 2.2 GB of RSS and a 50 M-element array 1.4 GB, and a command timeout does
// not stop the parser). The guard runs first on each chunk, so past the limit
// the decoder sees at most the chunk in hand (<= 64 KiB) before the socket is
// gone. A reply decoded from the chunk that tripped the guard may still be
// delivered; `epoch` changes first, so the caller can discard it (see
// redis-backend.ts).
//
// It costs one pass over each reply's headers and integers; bulk payloads are
// skipped by length.

const CR = 13;
const LF = 10;
/** Deeper than anything we read (CLUSTER SLOTS, the deepest, is 4 under RESP2). */
const MAX_DEPTH = 8;
/** A length or integer line longer than this is not one. */
const MAX_NUMBER_LINE = 24;

enum Mode {
  Type,
  Line,
  LineLf,
  Bulk,
  BulkCr,
  BulkLf,
}

const PLUS = 0x2b;
const MINUS = 0x2d;
const COLON = 0x3a;
const DOLLAR = 0x24;
const STAR = 0x2a;

/** `_ # , ( = ! % ~ > |`: types only RESP3 has. */
const RESP3_TYPES = new Set([0x5f, 0x23, 0x2c, 0x28, 0x3d, 0x21, 0x25, 0x7e, 0x3e, 0x7c]);

/** Too big for max_reply_bytes, or not RESP2 as we speak it. */
export type GuardRefusal = 'oversized' | 'protocol';

export class RespReplyGuard {
  private mode = Mode.Type;
  private kind = 0;
  private line = '';
  private bulkLeft = 0;
  /** Elements still expected by each open array, innermost last. */
  private readonly open: number[] = [];
  /** Bytes of the top-level reply being read. */
  private replyBytes = 0;
  private failed = false;

  constructor(
    private readonly maxReplyBytes: number,
    private readonly onViolation: (kind: GuardRefusal, why: string) => void,
  ) {}

  /** Feeds one chunk; false once the stream has been found bad (`onViolation` was called once). */
  feed(chunk: Buffer): boolean {
    if (this.failed) return false;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.mode) {
        case Mode.Type: {
          const b = chunk[i++]!;
          if (b !== PLUS && b !== MINUS && b !== COLON && b !== DOLLAR && b !== STAR) {
            return this.fail(RESP3_TYPES.has(b) ? `RESP3 type '${String.fromCharCode(b)}' on a RESP2 connection` : `not a RESP type: byte ${b}`);
          }
          this.replyBytes++;
          this.kind = b;
          this.line = '';
          this.mode = Mode.Line;
          break;
        }
        case Mode.Line: {
          let j = i;
          while (j < n && chunk[j] !== CR) j++;
          this.replyBytes += j - i;
          if (this.replyBytes > this.maxReplyBytes) return this.fail(`a reply over ${this.maxReplyBytes} bytes`, 'oversized');
          // Simple strings and errors are bounded by the reply limit only; they are not kept.
          if (this.kind !== PLUS && this.kind !== MINUS) {
            if (this.line.length + j - i > MAX_NUMBER_LINE) return this.fail('a length or integer line too long');
            this.line += chunk.toString('latin1', i, j);
          }
          if (j < n) {
            this.replyBytes++;
            this.mode = Mode.LineLf;
          }
          i = j + 1;
          break;
        }
        case Mode.LineLf:
          if (chunk[i++] !== LF) return this.fail('CR without LF');
          this.replyBytes++;
          if (!this.lineDone()) return false;
          break;
        case Mode.Bulk: {
          const take = Math.min(this.bulkLeft, n - i);
          i += take;
          this.bulkLeft -= take;
          this.replyBytes += take;
          if (this.bulkLeft === 0) this.mode = Mode.BulkCr;
          break;
        }
        case Mode.BulkCr:
          if (chunk[i++] !== CR) return this.fail('a bulk string longer than announced');
          this.replyBytes++;
          this.mode = Mode.BulkLf;
          break;
        case Mode.BulkLf:
          if (chunk[i++] !== LF) return this.fail('CR without LF');
          this.replyBytes++;
          this.elementDone();
          break;
      }
    }
    return true;
  }

  /** A complete line: a whole element, or the header of a bulk string or an array. */
  private lineDone(): boolean {
    const kind = this.kind;
    if (kind === PLUS || kind === MINUS) return this.elementDone();
    if (!/^-?\d+$/.test(this.line)) return this.fail(`not a number: '${this.line}'`);
    if (kind === COLON) return this.elementDone();
    const length = Number(this.line);
    if (length === -1) return this.elementDone(); // a null bulk string or array
    if (length < 0) return this.fail(`a negative length ${length}`);
    if (kind === DOLLAR) {
      if (this.replyBytes + length + 2 > this.maxReplyBytes) return this.fail(`a bulk string of ${length} bytes announced`, 'oversized');
      this.bulkLeft = length;
      this.mode = length === 0 ? Mode.BulkCr : Mode.Bulk;
      return true;
    }
    // An array; each element takes 3 bytes at least.
    if (this.replyBytes + length * 3 > this.maxReplyBytes) return this.fail(`an array of ${length} elements announced`, 'oversized');
    if (length === 0) return this.elementDone();
    if (this.open.length >= MAX_DEPTH) return this.fail(`arrays nested deeper than ${MAX_DEPTH}`);
    this.open.push(length);
    this.mode = Mode.Type;
    return true;
  }

  /** One element is complete; so are the arrays it completes, and maybe the reply. */
  private elementDone(): true {
    this.mode = Mode.Type;
    const open = this.open;
    while (open.length > 0) {
      const left = open[open.length - 1]! - 1;
      if (left > 0) {
        open[open.length - 1] = left;
        return true;
      }
      open.pop();
    }
    this.replyBytes = 0;
    return true;
  }

  private fail(why: string, kind: GuardRefusal = 'protocol'): false {
    this.failed = true;
    this.onViolation(kind, why);
    return false;
  }
}
