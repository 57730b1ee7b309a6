// How far one remote sink has shipped the trail: the segment and the byte
// offset just past the last acknowledged line, persisted atomically. A
// checkpoint that is unreadable, or does not point at a line boundary of a
// segment that still exists, restarts shipping from the oldest segment
// (retention never deletes an unshipped one): duplicates, never gaps.
import { closeSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TrailPosition {
  readonly file: string;
  readonly offset: number;
  /** Seq of the last line before `offset` (0 at the very start). */
  readonly seq: number;
}

export function checkpointFile(dir: string, sink: string): string {
  return join(dir, `audit-shipped-${sink}.json`);
}

export type LoadedCheckpoint =
  | { readonly kind: 'ok'; readonly position: TrailPosition }
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly why: string };

export function loadCheckpoint(dir: string, sink: string, segments: readonly string[]): LoadedCheckpoint {
  let raw: string;
  try {
    raw = readFileSync(checkpointFile(dir, sink), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'invalid', why: String(err) };
  }
  let p: Partial<TrailPosition>;
  try {
    p = JSON.parse(raw) as Partial<TrailPosition>;
  } catch {
    return { kind: 'invalid', why: 'not JSON' };
  }
  if (typeof p.file !== 'string' || !Number.isSafeInteger(p.offset) || !Number.isSafeInteger(p.seq) || (p.offset as number) < 0) {
    return { kind: 'invalid', why: 'not a checkpoint' };
  }
  if (!segments.includes(p.file)) return { kind: 'invalid', why: `${p.file} is not a segment of the trail` };
  const path = join(dir, p.file);
  const offset = p.offset as number;
  if (offset > statSync(path).size) return { kind: 'invalid', why: `offset ${offset} is past the end of ${p.file}` };
  if (offset > 0) {
    const fd = openSync(path, 'r');
    const b = Buffer.alloc(1);
    try {
      readSync(fd, b, 0, 1, offset - 1);
    } finally {
      closeSync(fd);
    }
    if (b[0] !== 0x0a) return { kind: 'invalid', why: `offset ${offset} of ${p.file} is not a line boundary` };
  }
  return { kind: 'ok', position: { file: p.file, offset, seq: p.seq as number } };
}

export function saveCheckpoint(dir: string, sink: string, position: TrailPosition): void {
  const file = checkpointFile(dir, sink);
  writeFileSync(`${file}.tmp`, JSON.stringify(position) + '\n');
  renameSync(`${file}.tmp`, file);
}
