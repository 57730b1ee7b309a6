// `audit verify`: walks the hash chain across every trail segment in a
// directory and names the first place where it breaks. What it catches:
//   edited line       — its hash no longer matches the next line's prev_hash
//                       (the last line: no longer matches audit-head.json)
//   removed line(s)   — a gap in seq
//   inserted line     — a seq that repeats or goes back, or a wrong prev_hash
//   reordered lines   — seq out of order
//   removed file      — a gap in seq at the next file's first line
//   cut tail          — the chain ends before the seq recorded in audit-head.json
//                       (or before an anchor hash given with --head)
//   corrupt head      — audit-head.json is not a chain head
//   recorded breaks   — audit-breaks.jsonl: a break the sidecar found at a
//                       start and continued after (the evidence of an earlier edit)
// What it accepts: a trail cut by a crash at any byte. An incomplete last
// line of the newest segment is a torn append (its answer never left); it is
// reported as torn and the sidecar cuts it off at its next start.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BASE_FILE, BREAKS_FILE, GENESIS_HASH, HEAD_FILE, hashLine, type ChainBase, type ChainHead } from './hash-chain.js';
import { readLines } from './line-reader.js';
import { listSegments } from './trail/segments.js';

export interface ChainProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface VerifyReport {
  readonly files: number;
  readonly events: number;
  readonly lastSeq: number;
  readonly lastHash: string;
  readonly problem: ChainProblem | undefined;
  /** A torn last line (a crash in the middle of an append), not tampering. */
  readonly torn: { readonly file: string; readonly line: number; readonly bytes: number } | undefined;
  readonly notes: string[];
}

export interface VerifyOptions {
  /** A line hash recorded elsewhere (a previous head): it must be in the chain. */
  readonly anchor?: string;
  /** Accept a chain whose first line is not the genesis (older files removed by hand). */
  readonly partial?: boolean;
}

interface Loc {
  readonly file: string;
  readonly line: number;
}

export async function verifyAuditDir(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const files = (await listSegments(dir)).map((s) => s.name);
  const notes: string[] = [];
  let torn: VerifyReport['torn'];
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let prevLoc: Loc | undefined;
  let events = 0;
  let anchorFound = false;
  let hashAtHeadSeq: { hash: string; loc: Loc } | undefined;
  const report = (problem: ChainProblem | undefined): VerifyReport => ({
    files: files.length, events, lastSeq: expectedSeq - 1, lastHash: prevHash, problem, torn, notes,
  });

  const breaks = await readBreaks(dir);
  if (breaks.length > 0) {
    const b = breaks[0] as { detected_at?: string; file?: string; line?: number; message?: string };
    return report({ file: b.file ?? BREAKS_FILE, line: b.line ?? 0,
      message: `a chain break was recorded at a restart (${b.detected_at ?? '?'}; ${breaks.length} in ${BREAKS_FILE}): ${b.message ?? ''}` });
  }
  const headRead = await readHead(dir, notes);
  if (headRead.problem !== undefined) return report(headRead.problem);
  const head = headRead.head;
  const base = await readBase(dir);

  for (let f = 0; f < files.length; f++) {
    const file = files[f] as string;
    const newest = f === files.length - 1;
    for await (const { text, number, complete } of readLines(join(dir, file))) {
      const here = { file, line: number };
      if (!complete) {
        if (newest) {
          torn = { file, line: number, bytes: Buffer.byteLength(text, 'utf8') };
          notes.push(`torn last line ${file}:${number} (${torn.bytes} bytes): an append cut by a crash; its answer never left, and the sidecar drops it at its next start`);
          break;
        }
        return report({ ...here, message: 'incomplete line in a closed segment: the file was cut or edited' });
      }
      let parsed: { seq?: unknown; prev_hash?: unknown };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        return report({ ...here, message: 'not valid JSON: the line was edited or corrupted' });
      }
      const { seq, prev_hash: prev } = parsed;
      if (typeof seq !== 'number' || typeof prev !== 'string') {
        return report({ ...here, message: 'no seq/prev_hash: not a chained audit line (inserted or edited)' });
      }
      if (prevLoc === undefined && seq !== 1) {
        if (base !== undefined && base.seq === seq && base.prev_hash === prev) {
          notes.push(`chain starts at seq ${seq}: older segments were deleted by retention (${BASE_FILE})`);
          expectedSeq = seq;
          prevHash = prev;
        } else if (opts.partial) {
          notes.push(`chain starts at seq ${seq} (--partial): lines before it are not checked`);
          expectedSeq = seq;
          prevHash = prev;
        }
      }
      if (seq !== expectedSeq) {
        const message = seq > expectedSeq
          ? `expected seq ${expectedSeq}, found ${seq}: ${seq - expectedSeq} line(s) removed before this line, or lines reordered`
          : `expected seq ${expectedSeq}, found ${seq}: a line was inserted, duplicated or moved here`;
        return report({ ...here, message });
      }
      if (prev !== prevHash) {
        if (prevLoc === undefined) {
          return report({ ...here, message: 'the first line does not start the chain (prev_hash is not the genesis); use --partial if older files were removed on purpose' });
        }
        return report({ ...prevLoc, message: `this line does not hash to the prev_hash recorded by the next line (${file}:${number}): it was edited (or that prev_hash was)` });
      }
      prevHash = hashLine(text);
      prevLoc = here;
      expectedSeq = seq + 1;
      events++;
      if (prevHash === opts.anchor) anchorFound = true;
      if (head !== undefined && seq === head.seq) hashAtHeadSeq = { hash: prevHash, loc: here };
    }
  }

  const lastSeq = expectedSeq - 1;
  if (head !== undefined) {
    if (lastSeq < head.seq) {
      const line = prevLoc?.file === head.file ? prevLoc.line + 1 : 1;
      return report({ file: head.file, line,
        message: `the chain ends at seq ${lastSeq} but ${HEAD_FILE} records seq ${head.seq} (${head.file}:${head.line}): the tail was removed` });
    }
    if (hashAtHeadSeq !== undefined && hashAtHeadSeq.hash !== head.hash) {
      return report({ ...hashAtHeadSeq.loc, message: `this line does not match the hash recorded in ${HEAD_FILE}: it was edited` });
    }
    if (lastSeq > head.seq) notes.push(`${lastSeq - head.seq} event(s) after the recorded head (the head is written every fsync interval)`);
  }
  if (opts.anchor !== undefined && !anchorFound) {
    const last = prevLoc ?? { file: files[files.length - 1] ?? '(none)', line: 0 };
    return report({ file: last.file, line: last.line + 1,
      message: `the anchor hash ${opts.anchor} is not in the chain: the tail was removed or rewritten` });
  }
  return report(undefined);
}

async function readBreaks(dir: string): Promise<unknown[]> {
  let raw: string;
  try {
    raw = await readFile(join(dir, BREAKS_FILE), 'utf8');
  } catch {
    return [];
  }
  return raw.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      return { message: `unreadable record: ${l.slice(0, 200)}` };
    }
  });
}

async function readBase(dir: string): Promise<ChainBase | undefined> {
  try {
    const b = JSON.parse(await readFile(join(dir, BASE_FILE), 'utf8')) as Partial<ChainBase>;
    if (typeof b.seq === 'number' && typeof b.prev_hash === 'string') return { seq: b.seq, prev_hash: b.prev_hash };
  } catch {
    // no base: the chain must start at the genesis
  }
  return undefined;
}

async function readHead(dir: string, notes: string[]): Promise<{ head?: ChainHead; problem?: ChainProblem }> {
  const path = join(dir, HEAD_FILE);
  try {
    await stat(path);
  } catch {
    notes.push(`no ${HEAD_FILE}: a removed tail cannot be detected (pass --head HASH to check against a recorded head)`);
    return {};
  }
  try {
    const h = JSON.parse(await readFile(path, 'utf8')) as Partial<ChainHead>;
    if (typeof h.seq === 'number' && typeof h.hash === 'string' && typeof h.file === 'string' && typeof h.line === 'number') {
      return { head: h as ChainHead };
    }
  } catch {
    // reported below
  }
  return { problem: { file: HEAD_FILE, line: 1, message: `${HEAD_FILE} is not a chain head: it was edited or damaged (a removed tail could hide behind it)` } };
}
