// `audit verify`: walks the hash chain across every audit-YYYY-MM-DD.jsonl in
// a directory and names the first line where it breaks. What it catches:
//   edited line       — its hash no longer matches the next line's prev_hash
//                       (the last line: no longer matches audit-head.json)
//   removed line(s)   — a gap in seq
//   inserted line     — a seq that repeats or goes back, or a wrong prev_hash
//   reordered lines   — seq out of order
//   removed file      — a gap in seq at the next file's first line
//   cut tail          — the chain ends before the seq recorded in audit-head.json
//                       (or before an anchor hash given with --head)
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_FILE_RE, GENESIS_HASH, HEAD_FILE, hashLine, type ChainHead } from './hash-chain.js';
import { readLines } from './line-reader.js';

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
  readonly notes: string[];
}

export interface VerifyOptions {
  /** A line hash recorded elsewhere (a previous head): it must be in the chain. */
  readonly anchor?: string;
  /** Accept a chain whose first line is not the genesis (older files removed by retention). */
  readonly partial?: boolean;
}

interface Loc {
  readonly file: string;
  readonly line: number;
}

export async function verifyAuditDir(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const files = (await readdir(dir)).filter((n) => AUDIT_FILE_RE.test(n)).sort();
  const notes: string[] = [];
  const head = await readHead(dir, notes);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let prevLoc: Loc | undefined;
  let events = 0;
  let anchorFound = false;
  let hashAtHeadSeq: { hash: string; loc: Loc } | undefined;
  const report = (problem: ChainProblem | undefined): VerifyReport => ({
    files: files.length, events, lastSeq: expectedSeq - 1, lastHash: prevHash, problem, notes,
  });

  for (const file of files) {
    for await (const { text, number, complete } of readLines(join(dir, file))) {
      const here = { file, line: number };
      if (!complete) return report({ ...here, message: 'incomplete last line (a torn write, or the file was cut)' });
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
      if (prevLoc === undefined && opts.partial && seq !== 1) {
        notes.push(`chain starts at seq ${seq} (--partial): lines before it are not checked`);
        expectedSeq = seq;
        prevHash = prev;
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
    if (lastSeq > head.seq) notes.push(`${lastSeq - head.seq} event(s) after the recorded head (written just before a crash)`);
  }
  if (opts.anchor !== undefined && !anchorFound) {
    const last = prevLoc ?? { file: files[files.length - 1] ?? '(none)', line: 0 };
    return report({ file: last.file, line: last.line + 1,
      message: `the anchor hash ${opts.anchor} is not in the chain: the tail was removed or rewritten` });
  }
  return report(undefined);
}

async function readHead(dir: string, notes: string[]): Promise<ChainHead | undefined> {
  const path = join(dir, HEAD_FILE);
  try {
    await stat(path);
  } catch {
    notes.push(`no ${HEAD_FILE}: a removed tail cannot be detected (pass --head HASH to check against a recorded head)`);
    return undefined;
  }
  try {
    const h = JSON.parse(await readFile(path, 'utf8')) as Partial<ChainHead>;
    if (typeof h.seq === 'number' && typeof h.hash === 'string' && typeof h.file === 'string' && typeof h.line === 'number') {
      return h as ChainHead;
    }
  } catch {
    // reported below
  }
  notes.push(`${HEAD_FILE} is unreadable: tail truncation not checked`);
  return undefined;
}
