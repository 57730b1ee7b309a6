// The seam between the shipper and a remote copy of the trail (Kafka today;
// PostgreSQL next, plugged in the same way through remote-sinks.ts). A sink
// takes batches of trail records in trail order and acknowledges each batch
// as a whole; the shipper retries an unacknowledged batch until it is
// (at least once: a sink must tolerate, or dedupe, a batch seen twice).
import type { Logger } from '../../observability/logger.js';
import type { EventHead } from './event-head.js';

/** One line of the trail, as the shipper read it. */
export interface TrailRecord {
  readonly seq: number;
  /** The event JSON without the chain fields (seq, prev_hash): what consumers read. */
  readonly json: string;
  /** The exact chained line (event + seq + prev_hash), whose SHA-256 the next line's prev_hash is. */
  readonly line: string;
  /** The fields a record is routed by (id, time, tenant, resource), read without parsing the event. */
  readonly head: EventHead;
  /** The parsed event (schema v1 fields), parsed on first use: a sink that stores every field asks for it. */
  readonly event: Readonly<Record<string, unknown>>;
}

export interface RemoteSink {
  /** The `sink` label of its metrics and the name of its checkpoint. */
  readonly name: string;
  /** Resolves once the remote holds every record of the batch; rejects (within the sink's own deadline) otherwise. */
  deliver(batch: readonly TrailRecord[], deadlineMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface RemoteSinkContext {
  readonly log: Logger;
  /** The trail directory the sink ships from (a sink may keep small state of its own there). */
  readonly dir: string;
}
