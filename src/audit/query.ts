// `audit query`: the events in a JSONL audit directory that match simple
// filters, oldest first. Segments that end before the --since day are skipped unread.
import { join } from 'node:path';
import { readLines } from './line-reader.js';
import { listSegments } from './trail/segments.js';

export interface AuditQuery {
  readonly tenant?: string;
  readonly action?: string;
  readonly result?: string;
  readonly principal?: string;
  readonly reason?: string;
  readonly decisionId?: string;
  /** A compliance control the decision enforced (`SOC2:CC6.1`). */
  readonly control?: string;
  /** Epoch ms, inclusive. */
  readonly since?: number;
  /** Epoch ms, exclusive. */
  readonly until?: number;
  readonly limit?: number;
}

export interface QueryMatch {
  readonly line: string;
  readonly event: Record<string, unknown>;
}

/** Yields matching lines; malformed lines are reported through `onBadLine` and skipped. */
export async function* queryAuditDir(
  dir: string,
  q: AuditQuery,
  onBadLine: (file: string, line: number) => void = () => undefined,
): AsyncGenerator<QueryMatch> {
  const sinceDay = q.since === undefined ? undefined : new Date(q.since).toISOString().slice(0, 10);
  const segments = await listSegments(dir);
  let found = 0;
  for (let i = 0; i < segments.length; i++) {
    const { name: file } = segments[i] as { name: string };
    // A segment holds events from the day it was started until the next segment's day.
    const nextDay = segments[i + 1]?.day;
    if (sinceDay !== undefined && nextDay !== undefined && nextDay < sinceDay) continue;
    for await (const { text, number, complete } of readLines(join(dir, file))) {
      if (!complete) continue;
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(text) as Record<string, unknown>;
      } catch {
        onBadLine(file, number);
        continue;
      }
      if (!matches(event, q)) continue;
      yield { line: text, event };
      if (q.limit !== undefined && ++found >= q.limit) return;
    }
  }
}

function matches(e: Record<string, unknown>, q: AuditQuery): boolean {
  if (q.tenant !== undefined && e.tenant_id !== q.tenant) return false;
  if (q.action !== undefined && e.action !== q.action) return false;
  if (q.result !== undefined && e.result !== q.result) return false;
  if (q.principal !== undefined && e.principal !== q.principal) return false;
  if (q.reason !== undefined && e.reason !== q.reason && e.would_deny_reason !== q.reason) return false;
  if (q.decisionId !== undefined && e.decision_id !== q.decisionId) return false;
  if (q.control !== undefined && !(Array.isArray(e.controls) && e.controls.includes(q.control))) return false;
  if (q.since !== undefined || q.until !== undefined) {
    const at = typeof e.timestamp === 'string' ? Date.parse(e.timestamp) : NaN;
    if (Number.isNaN(at)) return false;
    if (q.since !== undefined && at < q.since) return false;
    if (q.until !== undefined && at >= q.until) return false;
  }
  return true;
}

const DURATION_RE = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO date/time, or a duration back from now ("15m", "24h", "7d"); undefined when neither. */
export function parseTimeArg(value: string, now = Date.now()): number | undefined {
  const rel = DURATION_RE.exec(value);
  if (rel) return now - Number(rel[1]) * (UNIT_MS[rel[2] as string] as number);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}
