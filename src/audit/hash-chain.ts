// The JSONL hash chain, shared by the writer and by `audit verify`.
// Each line is one event's JSON with two trailing fields:
//   "seq": 1, 2, 3...   — position in the chain, continuing across files and restarts
//   "prev_hash": hex SHA-256 of the previous line's exact bytes (without '\n');
//                64 zeros for the first line of the chain.
// The head file records the last line written, so a cut tail is detectable.
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);
export const HEAD_FILE = 'audit-head.json';
export const AUDIT_FILE_RE = /^audit-(\d{4}-\d{2}-\d{2})\.jsonl$/;

export interface ChainHead {
  readonly file: string;
  readonly line: number;
  readonly seq: number;
  readonly hash: string;
}

export function hashLine(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

/** `{...event}` → `{...event,"seq":N,"prev_hash":"…"}` without re-serializing the event. */
export function chainLine(eventJson: string, seq: number, prevHash: string): string {
  return `${eventJson.slice(0, -1)},"seq":${seq},"prev_hash":"${prevHash}"}`;
}

export function auditFileName(at: Date): string {
  return `audit-${at.toISOString().slice(0, 10)}.jsonl`;
}
