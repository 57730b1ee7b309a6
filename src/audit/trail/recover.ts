// What the trail on disk says at start, before the writer continues it:
//   - a torn last line (a crash in the middle of an append, power loss) is cut
//     off and reported as torn: its answer never left (the append had not returned);
//   - the chain from the recorded head to the end must hold: the head line
//     must hash to the head's hash, every later line must link to the one
//     before, and the chain must reach the head's seq. Anything else is a
//     break (an edited or removed line, a corrupt or stale head), which is
//     returned to be recorded: the chain continues, the evidence stays.
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { chainFieldsOf, GENESIS_HASH, HEAD_FILE, hashLine, type ChainHead } from '../hash-chain.js';
import type { SegmentName } from './segments.js';

export interface ChainBreak {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface RecoveredTail {
  /** Seq and hash of the last line on disk: the chain continues from here. */
  readonly seq: number;
  readonly prevHash: string;
  readonly torn: { readonly file: string; readonly bytes: number } | undefined;
  readonly breaks: ChainBreak[];
  /** Sizes of the segments, after the torn tail was cut. */
  readonly sizes: Map<string, number>;
}

interface Line {
  readonly text: string;
  readonly number: number;
  readonly offset: number;
}

function linesOf(buf: Buffer, fromOffset = 0, fromNumber = 1): Line[] {
  const out: Line[] = [];
  let start = fromOffset;
  let number = fromNumber;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) return out;
    out.push({ text: buf.toString('utf8', start, nl), number: number++, offset: start });
    start = nl + 1;
  }
}

async function readHead(dir: string): Promise<{ head: ChainHead | undefined; problem: string | undefined }> {
  let raw: string;
  try {
    raw = await readFile(join(dir, HEAD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { head: undefined, problem: undefined };
    return { head: undefined, problem: `${HEAD_FILE} unreadable: ${String(err)}` };
  }
  try {
    const h = JSON.parse(raw) as Partial<ChainHead>;
    if (typeof h.seq === 'number' && typeof h.hash === 'string' && typeof h.file === 'string' && typeof h.line === 'number') {
      return { head: h as ChainHead, problem: undefined };
    }
  } catch {
    // below
  }
  return { head: undefined, problem: `${HEAD_FILE} is corrupt (not a chain head): the head was edited or damaged` };
}

/** Regular files only: a segment that is a device or a link to one is never read. */
async function regularSize(path: string): Promise<number> {
  const s = await stat(path);
  return s.isFile() ? s.size : 0;
}

export async function recoverTail(dir: string, segments: readonly SegmentName[]): Promise<RecoveredTail> {
  const breaks: ChainBreak[] = [];
  const sizes = new Map<string, number>();
  for (const s of segments) sizes.set(s.name, await regularSize(join(dir, s.name)));

  // Cut a torn last line: the newest non-empty segment is the only one a crash can tear.
  let torn: RecoveredTail['torn'];
  const nonEmpty = segments.filter((s) => (sizes.get(s.name) ?? 0) > 0);
  const last = nonEmpty[nonEmpty.length - 1];
  if (last !== undefined) {
    const path = join(dir, last.name);
    const fh = await open(path, 'r');
    let complete: number;
    const size = sizes.get(last.name) as number;
    try {
      const tailLen = Math.min(size, 1024 * 1024);
      const tail = Buffer.allocUnsafe(tailLen);
      await fh.read(tail, 0, tailLen, size - tailLen);
      const nl = tail.lastIndexOf(0x0a);
      complete = nl < 0 ? (size > tailLen ? -1 : 0) : size - tailLen + nl + 1;
    } finally {
      await fh.close();
    }
    if (complete < 0) {
      breaks.push({ file: last.name, line: 0, message: 'the last MiB of the newest segment holds no line end: not a trail written by this sidecar' });
    } else if (complete < size) {
      await truncate(path, complete);
      torn = { file: last.name, bytes: size - complete };
      sizes.set(last.name, complete);
    }
  }

  const { head, problem } = await readHead(dir);
  if (problem !== undefined) breaks.push({ file: HEAD_FILE, line: 0, message: problem });

  // Lines to check: from the head line (or the whole newest segment without a head) to the end.
  const names = nonEmpty.map((s) => s.name);
  let from = names.length - 1;
  let fromOffset = 0;
  let fromNumber = 1;
  if (head !== undefined) {
    const i = names.indexOf(head.file);
    if (i < 0 && head.seq > 0) {
      breaks.push({ file: head.file, line: head.line,
        message: `${HEAD_FILE} records seq ${head.seq} in ${head.file}, which is gone: segments were removed` });
    } else if (i >= 0) {
      from = i;
      if (head.offset !== undefined && head.offset <= (sizes.get(head.file) ?? 0)) {
        fromOffset = head.offset;
        fromNumber = head.line;
      }
    }
  }
  let seq = 0;
  let prevHash = GENESIS_HASH;
  let headSeen = false;
  let linked: { seq: number; hash: string } | undefined;
  // Where the count starts when the first line read turns out unreadable: the head's seq, or the segment's first seq.
  const start = nonEmpty[Math.max(0, from)];
  if (fromOffset > 0 && head !== undefined) seq = head.seq - 1;
  else if (start?.firstSeq !== undefined) seq = start.firstSeq - 1;
  for (let i = Math.max(0, from); i < names.length; i++) {
    const name = names[i] as string;
    const buf = await readFile(join(dir, name));
    const lines = linesOf(buf, i === from ? fromOffset : 0, i === from ? fromNumber : 1);
    for (const l of lines) {
      const fields = chainFieldsOf(l.text);
      const hash = hashLine(l.text);
      if (fields === undefined) {
        breaks.push({ file: name, line: l.number, message: 'not a chained audit line: edited or corrupted' });
        seq++;
        prevHash = hash;
        linked = undefined;
        continue;
      }
      if (head !== undefined && name === head.file && fields.seq === head.seq) {
        headSeen = true;
        if (hash !== head.hash) {
          breaks.push({ file: name, line: l.number,
            message: `this line does not match ${HEAD_FILE} (seq ${head.seq}): it was edited, or the head was` });
        }
      }
      if (linked !== undefined && (fields.seq !== linked.seq + 1 || fields.prevHash !== linked.hash)) {
        breaks.push({ file: name, line: l.number,
          message: `the chain does not link here (expected seq ${linked.seq + 1}): the line before was edited, or lines were removed or inserted` });
      }
      seq = fields.seq;
      prevHash = hash;
      linked = { seq, hash };
    }
  }
  if (head !== undefined && !headSeen && seq < head.seq && names.includes(head.file)) {
    breaks.push({ file: head.file, line: head.line,
      message: `the chain ends at seq ${seq} but ${HEAD_FILE} records seq ${head.seq}: the tail was cut` });
  }
  return { seq, prevHash, torn, breaks, sizes };
}
