// The audit part of /status: whether the write-ahead trail takes events, how
// full it is, how far each remote sink is behind (backlog bytes, age of the
// oldest unshipped event), and whether decisions are being denied because
// the trail cannot take more. The capability fills an AuditSnapshot from
// what it runs; this file decides state and message.
import type { PartStatus } from '../decision/capability.js';

export interface AuditSnapshot {
  /** The trail is open (or there is none: stdout only) and events are taken. */
  readonly started: boolean;
  /** Why opening failed, if it did. */
  readonly startError: string | undefined;
  /** Appends or fsyncs are failing now. */
  readonly failing: boolean;
  /** False: on_full=deny and audit cannot record, so decisions are denied `audit_unavailable`. */
  readonly accepting: boolean;
  readonly trailBytes: number;
  /** The trail's bound (trail.max_bytes), when there is a trail. */
  readonly trailMaxBytes: number | undefined;
  /** Largest backlog of any remote sink: trail bytes it has not acknowledged. */
  readonly backlogBytes: number;
  /** Seconds the oldest unshipped event has waited (worst sink), or null when nothing waits. */
  readonly oldestUnshippedAgeS: number | null;
  /** Remote sinks whose shipper reports them unreachable. */
  readonly sinksDown: readonly string[];
  /** Hash-chain breaks recorded in the trail. */
  readonly chainBreaks: number;
}

/** Above this fraction of the trail's bound the part warns. */
const WARN_FRACTION = 0.8;
/** Shipping this far behind warns. */
const WARN_AGE_S = 60;

export function auditStatus(s: AuditSnapshot): PartStatus {
  const details = {
    trail_bytes: s.trailBytes,
    trail_max_bytes: s.trailMaxBytes ?? null,
    backlog_bytes: s.backlogBytes,
    oldest_unshipped_age_s: s.oldestUnshippedAgeS,
    sinks_down: s.sinksDown.join(',') || null,
  };
  if (s.startError !== undefined) return { state: 'error', message: `audit could not start: ${s.startError}`, details };
  if (!s.started) return { state: 'not_ready', message: 'opening the audit trail', details };
  if (!s.accepting) return { state: 'error', message: 'the audit trail cannot take events (on_full=deny): decisions are denied audit_unavailable', details };
  const warnings: string[] = [];
  if (s.failing) warnings.push('trail writes failing (events counted as dropped)');
  if (s.trailMaxBytes !== undefined && s.trailBytes >= WARN_FRACTION * s.trailMaxBytes) warnings.push(`trail ${s.trailBytes}/${s.trailMaxBytes} bytes`);
  if (s.sinksDown.length > 0) warnings.push(`sink down: ${s.sinksDown.join(', ')}`);
  if (s.oldestUnshippedAgeS !== null && s.oldestUnshippedAgeS >= WARN_AGE_S) {
    warnings.push(`shipping behind: oldest unshipped event ${s.oldestUnshippedAgeS} s old, ${s.backlogBytes} bytes`);
  }
  if (s.chainBreaks > 0) warnings.push(`${s.chainBreaks} hash-chain break(s) recorded`);
  if (warnings.length > 0) return { state: 'warn', message: warnings.join('; '), details };
  return { state: 'ok', message: `recording; trail ${s.trailBytes} bytes, backlog ${s.backlogBytes} bytes`, details };
}
