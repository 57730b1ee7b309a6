// The audit part of /status: how full the queue is, how much waits in the
// local backlog (spool) and for how long, and whether decisions are being
// denied because the trail cannot take more. The capability fills an
// AuditSnapshot from whatever it runs (queue + spool today, a write-ahead
// trail and a shipper tomorrow); this file decides state and message.
import type { PartStatus } from '../decision/capability.js';

export interface AuditSnapshot {
  /** Sinks (and spool/trail) are open and the flusher runs. */
  readonly started: boolean;
  /** Why starting failed, if it did. */
  readonly startError: string | undefined;
  readonly queueDepth: number;
  readonly queueCapacity: number;
  /** False: on_full=deny and no room, so decisions are denied `audit_unavailable`. */
  readonly accepting: boolean;
  /** Bytes written locally but not yet shipped (spool), 0 without a remote sink. */
  readonly backlogBytes: number;
  readonly backlogMaxBytes: number | undefined;
  /** Seconds the oldest unshipped event has waited, or null when none waits or it is unknown. */
  readonly oldestUnshippedAgeS: number | null;
}

/** Above this fraction of a bound (queue, backlog) the part warns. */
const WARN_FRACTION = 0.8;

export function auditStatus(s: AuditSnapshot): PartStatus {
  const details = {
    queue_depth: s.queueDepth,
    queue_capacity: s.queueCapacity,
    backlog_bytes: s.backlogBytes,
    oldest_unshipped_age_s: s.oldestUnshippedAgeS,
  };
  if (s.startError !== undefined) return { state: 'error', message: `audit could not start: ${s.startError}`, details };
  if (!s.started) return { state: 'not_ready', message: 'opening sinks', details };
  if (!s.accepting) return { state: 'error', message: 'audit queue and backlog full (on_full=deny): decisions are denied audit_unavailable', details };
  const warnings: string[] = [];
  if (s.queueDepth >= WARN_FRACTION * s.queueCapacity) warnings.push(`queue ${s.queueDepth}/${s.queueCapacity}`);
  if (s.backlogMaxBytes !== undefined && s.backlogBytes >= WARN_FRACTION * s.backlogMaxBytes) {
    warnings.push(`backlog ${s.backlogBytes}/${s.backlogMaxBytes} bytes`);
  }
  if (s.oldestUnshippedAgeS !== null) warnings.push(`shipping behind: oldest unshipped event ${s.oldestUnshippedAgeS} s old`);
  if (warnings.length > 0) return { state: 'warn', message: warnings.join('; '), details };
  return { state: 'ok', message: `recording; queue ${s.queueDepth}/${s.queueCapacity}, backlog ${s.backlogBytes} bytes`, details };
}
