// Trail segment files: `audit-YYYY-MM-DD-<first seq, 12 digits>.jsonl` (UTC
// day the segment was started). The chain order is the order of first seqs;
// the daily files of earlier versions (`audit-YYYY-MM-DD.jsonl`) come first.
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';

const SEGMENT_RE = /^audit-(\d{4}-\d{2}-\d{2})(?:-(\d{12}))?\.jsonl$/;

export interface SegmentName {
  readonly name: string;
  /** UTC day the segment was started. */
  readonly day: string;
  /** Seq of its first line; undefined for a daily file of an earlier version. */
  readonly firstSeq: number | undefined;
}

export function segmentFileName(at: Date, firstSeq: number): string {
  return `audit-${at.toISOString().slice(0, 10)}-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_RE.exec(name);
  if (!m) return undefined;
  return { name, day: m[1] as string, firstSeq: m[2] === undefined ? undefined : Number(m[2]) };
}

function inChainOrder(names: readonly string[]): SegmentName[] {
  return names.map(parseSegmentName).filter((s): s is SegmentName => s !== undefined).sort((a, b) => {
    if (a.firstSeq === undefined || b.firstSeq === undefined) {
      if (a.firstSeq !== b.firstSeq) return a.firstSeq === undefined ? -1 : 1;
      return a.day < b.day ? -1 : a.day > b.day ? 1 : 0;
    }
    return a.firstSeq - b.firstSeq;
  });
}

/** The trail's segment files in chain order. */
export async function listSegments(dir: string): Promise<SegmentName[]> {
  return inChainOrder(await readdir(dir));
}

export function listSegmentsSync(dir: string): SegmentName[] {
  return inChainOrder(readdirSync(dir));
}
