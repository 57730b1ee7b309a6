// Delivers the trail to the Audit Wall (config/postgres/audit.sql) with
// node-postgres, on the shipper thread (never the decision thread): one
// transaction per batch of multi-row INSERTs with ON CONFLICT (decision_id)
// DO NOTHING, so a batch re-sent after a crash or a timeout never
// duplicates. Each row carries the chain (seq, prev_hash, hash) and the exact
// trail line, so `audit verify --postgres` can walk the chain in the
// database. One deadline per batch: past it the connection is destroyed (a
// query in doubt is never reused) and the shipper retries from the trail.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '../../observability/logger.js';
import type { PostgresSinkConfig } from '../config.js';
import { chainFieldsOf, hashLine } from '../hash-chain.js';
import type { RemoteSink, TrailRecord } from '../shipping/remote-sink.js';

/** The event fields stored as columns, in column order (schema v1; docs/audit.md). */
export const EVENT_COLUMNS = [
  'schema_version', 'timestamp', 'tenant_id', 'principal', 'principal_kind', 'principal_tenant', 'action',
  'resource_type', 'resource_id', 'result', 'status', 'reason', 'stage', 'enforcement', 'would_deny_reason',
  'would_deny_stage', 'would_deny_status', 'route', 'method', 'path', 'transport', 'policy_revision', 'fga_model_id',
  'budget', 'latency_ms', 'client_ip', 'request_id', 'trace_id', 'controls',
] as const;

const COLUMNS = ['decision_id', 'chain', 'seq', 'prev_hash', 'hash', 'line', ...EVENT_COLUMNS] as const;
const QUOTED = COLUMNS.map((c) => `"${c}"`).join(', ');

/**
 * The name of this trail's chain in the table: `<chain or hostname>/<id>`, the id made once per trail
 * directory and kept in it. A pod restarted with an empty trail (an emptyDir) starts a new chain at
 * seq 1 under the same hostname; the id keeps the two chains apart.
 */
export function trailChainId(dir: string, prefix: string | undefined): string {
  const file = join(dir, CHAIN_ID_FILE);
  let id: string;
  try {
    id = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{8}$/.test(id)) throw new Error('not a chain id');
  } catch {
    id = randomUUID().slice(0, 8);
    writeFileSync(file, `${id}\n`);
  }
  return `${prefix ?? hostname()}/${id}`;
}

export const CHAIN_ID_FILE = 'audit-chain-id';

export class PostgresDeliveryError extends Error {
  override readonly name = 'PostgresDeliveryError';
}

export class PostgresSink implements RemoteSink {
  readonly name = 'postgres';
  private client: pg.Client | undefined;
  constructor(private readonly config: PostgresSinkConfig, private readonly log: Logger, private readonly chain: string) {}

  async deliver(batch: readonly TrailRecord[], deadlineMs?: number): Promise<void> {
    if (batch.length === 0) return;
    const timeoutMs = Math.max(1, Math.min(this.config.timeout_ms, deadlineMs ?? Infinity));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PostgresDeliveryError(`no commit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.insert(batch), expired]);
    } catch (err) {
      // The connection's state is in doubt (a statement may still run): never reuse it.
      this.discard();
      throw err instanceof PostgresDeliveryError ? err : new PostgresDeliveryError((err as Error).message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  private async insert(batch: readonly TrailRecord[]): Promise<void> {
    const client = await this.connect();
    await client.query('BEGIN');
    for (let i = 0; i < batch.length; i += this.config.max_rows) {
      const rows = batch.slice(i, i + this.config.max_rows);
      const params: unknown[] = [];
      const tuples = rows.map((r) => {
        const values = this.row(r);
        const at = params.length;
        params.push(...values);
        return `(${values.map((_, k) => `$${at + k + 1}`).join(', ')})`;
      });
      await client.query(`INSERT INTO ${this.config.table} (${QUOTED}) VALUES ${tuples.join(', ')} ON CONFLICT (decision_id) DO NOTHING`, params);
    }
    await client.query('COMMIT');
  }

  private row(r: TrailRecord): unknown[] {
    const fields = chainFieldsOf(r.line);
    if (fields === undefined) throw new PostgresDeliveryError(`trail line ${r.seq} has no chain fields`);
    const e = r.event;
    return [
      e.decision_id, this.chain, r.seq, fields.prevHash, hashLine(r.line), r.line,
      ...EVENT_COLUMNS.map((c) => (c === 'budget' ? (e.budget === null || e.budget === undefined ? null : JSON.stringify(e.budget))
        : c === 'controls' ? (Array.isArray(e.controls) ? e.controls : []) : (e[c] ?? null))),
    ];
  }

  private async connect(): Promise<pg.Client> {
    if (this.client !== undefined) return this.client;
    const client = new pg.Client({
      connectionString: this.config.url,
      connectionTimeoutMillis: this.config.timeout_ms,
      // The server gives up on a statement at the same deadline (a client-side abandon alone would leave it running).
      statement_timeout: this.config.timeout_ms,
      application_name: 'authz-sidecar-audit',
    });
    client.on('error', (err) => {
      this.log.warn({ sink: this.name, err: err.message }, 'audit postgres connection failed');
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    this.client = client;
    return client;
  }

  private discard(): void {
    const c = this.client;
    this.client = undefined;
    if (c === undefined) return;
    // end() waits for the query in flight; the socket goes at once.
    (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    c.end().catch(() => undefined);
  }
}
