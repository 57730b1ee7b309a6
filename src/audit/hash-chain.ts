// The JSONL hash chain, shared by the writer, the shipper and `audit verify`.
// Each line is one event's JSON with two trailing fields:
//   "seq": 1, 2, 3...   — position in the chain, continuing across files and restarts
//   "prev_hash": hex SHA-256 of the previous line's exact bytes (without '\n');
//                64 zeros for the first line of the chain.
// The head file records a recent line (written every fsync interval), so a
// cut tail is detectable; the breaks file records every break the writer
// found at start, so tamper evidence survives the restart that continues the chain.
import { hash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);
export const HEAD_FILE = 'audit-head.json';
/** One JSON line per chain break found at start (the chain continued after it). */
export const BREAKS_FILE = 'audit-breaks.jsonl';
/** Written when retention deletes the oldest segments: where the remaining chain starts. */
export const BASE_FILE = 'audit-base.json';

export interface ChainHead {
  readonly file: string;
  /** 1-based line number of the head line in `file`. */
  readonly line: number;
  readonly seq: number;
  /** Hash of the head line. */
  readonly hash: string;
  /** Byte offset where the head line starts in `file` (lets a restart check the tail without reading the file). */
  readonly offset?: number;
}

export interface ChainBase {
  readonly seq: number;
  readonly prev_hash: string;
}

/** Hex SHA-256 of a line's text (UTF-8) or of its bytes; one-shot, no Hash object. */
export function hashLine(line: string | Uint8Array): string {
  return hash('sha256', line, 'hex');
}

/** `{...event}` → `{...event,"seq":N,"prev_hash":"…"}` without re-serializing the event. */
export function chainLine(eventJson: string, seq: number, prevHash: string): string {
  return `${eventJson.slice(0, -1)}${chainTail(seq, prevHash)}`;
}

/** What chainLine puts in place of the event's closing brace (ASCII only). */
export function chainTail(seq: number, prevHash: string): string {
  return `,"seq":${seq},"prev_hash":"${prevHash}"}`;
}

const SEQ_RE = /,"seq":(\d+),"prev_hash":"([0-9a-f]{64})"\}$/;

/** seq and prev_hash of a chained line, read from its tail (no JSON parse); undefined when it is not one. */
export function chainFieldsOf(line: string): { seq: number; prevHash: string } | undefined {
  const m = SEQ_RE.exec(line);
  return m ? { seq: Number(m[1]), prevHash: m[2] as string } : undefined;
}
