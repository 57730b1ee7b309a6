// `audit verify --postgres URL`: walks every hash chain in the Audit Wall
// table, in seq order, and names the first row that breaks it — the same
// checks `audit verify DIR` makes on files:
//  - the row's hash is the SHA-256 of its stored trail line (an edited line);
//  - the line's own seq and prev_hash are the row's (a line moved to another row);
//  - every column holds what the line says (an edited column);
//  - seq follows the previous row's by one (a removed row), and prev_hash is the
//    previous row's hash (a row inserted or reordered).
// A chain may start past seq 1 (the sink was added to an older trail, or
// retention deleted the first segments): that is a note, not tampering.
// The newest rows cannot be checked against anything later: a cut tail shows only
// against the sidecar's own trail head (`audit verify DIR`).
import pg from 'pg';
import { GENESIS_HASH, chainFieldsOf, hashLine } from './hash-chain.js';
import { EVENT_COLUMNS } from './sinks/postgres-sink.js';

export interface PostgresVerifyOptions {
  readonly url: string;
  readonly table?: string;
  /** Only this chain (default: every chain in the table). */
  readonly chain?: string;
}

export interface PostgresProblem {
  readonly chain: string;
  readonly seq: number;
  readonly decisionId: string;
  readonly message: string;
}

export interface PostgresVerifyReport {
  readonly rows: number;
  readonly chains: number;
  readonly notes: string[];
  readonly problem?: PostgresProblem;
}

const PAGE = 2000;

export async function verifyPostgres(opts: PostgresVerifyOptions): Promise<PostgresVerifyReport> {
  const table = opts.table ?? 'authz_audit.decisions';
  if (!/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`--table must be schema.table in lower case: ${table}`);
  const client = new pg.Client({ connectionString: opts.url, application_name: 'authz-sidecar-audit-verify' });
  await client.connect();
  const notes: string[] = [];
  let rows = 0;
  let chains = 0;
  try {
    // Keyset pages in (chain, seq) order: the table can be large.
    let after: [string, number] = [opts.chain ?? '', 0];
    let prev: { chain: string; seq: number; hash: string } | undefined;
    const cols = ['decision_id', 'chain', 'seq', 'prev_hash', 'hash', 'line', ...EVENT_COLUMNS].map((c) => `"${c}"`).join(', ');
    for (;;) {
      const where = opts.chain === undefined ? '(chain, seq) > ($1, $2)' : 'chain = $1 AND seq > $2';
      const params: unknown[] = [opts.chain ?? after[0], after[1]];
      const page = await client.query(
        `SELECT ${cols} FROM ${table} WHERE ${where} ORDER BY chain, seq LIMIT ${PAGE}`, params);
      if (page.rows.length === 0) break;
      for (const row of page.rows as Array<Record<string, unknown>>) {
        rows++;
        const chain = String(row.chain);
        const seq = Number(row.seq);
        const fail = (message: string): PostgresVerifyReport => ({
          rows, chains, notes, problem: { chain, seq, decisionId: String(row.decision_id), message },
        });
        if (prev === undefined || prev.chain !== chain) {
          chains++;
          if (seq !== 1) notes.push(`chain ${chain} starts at seq ${seq} (earlier rows were never shipped here, or were removed)`);
          else if (String(row.prev_hash) !== GENESIS_HASH) return fail('the first row of the chain does not start from the genesis hash');
        } else {
          if (seq !== prev.seq + 1) return fail(`seq ${prev.seq + 1}${seq - 1 > prev.seq + 1 ? `–${seq - 1}` : ''} missing: row(s) removed`);
          if (String(row.prev_hash) !== prev.hash) return fail('prev_hash is not the previous row\'s hash: a row was inserted, replaced or reordered');
        }
        const line = String(row.line);
        if (hashLine(line) !== String(row.hash)) return fail('the stored trail line does not hash to the row\'s hash: the line was edited');
        const fields = chainFieldsOf(line);
        if (fields === undefined || fields.seq !== seq || fields.prevHash !== String(row.prev_hash)) {
          return fail('the stored line\'s seq/prev_hash are not the row\'s: the line belongs elsewhere');
        }
        const edited = editedColumn(row, line);
        if (edited !== undefined) return fail(`column ${edited} differs from the trail line: the row was edited`);
        prev = { chain, seq, hash: String(row.hash) };
      }
      const last = page.rows[page.rows.length - 1] as Record<string, unknown>;
      after = [String(last.chain), Number(last.seq)];
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return { rows, chains, notes };
}

/** The first column whose value is not what the row's line says, or undefined. */
function editedColumn(row: Record<string, unknown>, line: string): string | undefined {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return 'line';
  }
  if (row.decision_id !== event.decision_id) return 'decision_id';
  for (const c of EVENT_COLUMNS) {
    const want = event[c] ?? null;
    const have = row[c] ?? null;
    if (c === 'timestamp') {
      if (Date.parse(String(want)) !== (have instanceof Date ? have.getTime() : Date.parse(String(have)))) return c;
    } else if (c === 'controls') {
      if (JSON.stringify(want ?? []) !== JSON.stringify(have ?? [])) return c;
    } else if (c === 'budget') {
      if (canonical(want) !== canonical(have)) return c;
    } else if (typeof want === 'number' || typeof have === 'number') {
      if (Number(want) !== Number(have)) return c;
    } else if (want !== have) {
      return c;
    }
  }
  return undefined;
}

/** JSON with object keys sorted (jsonb does not keep key order). */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}
