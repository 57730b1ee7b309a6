// `authz-sidecar audit verify DIR` and `authz-sidecar audit query DIR ...`.
// Exit codes: 0 ok, 1 tampering found (verify), 2 bad usage.
import { stat } from 'node:fs/promises';
import type { CliIo } from '../cli/io.js';
import { parseTimeArg, queryAuditDir, type AuditQuery } from './query.js';
import { verifyAuditDir } from './verify.js';
import { verifyPostgres, type PostgresVerifyOptions } from './verify-postgres.js';

const VERIFY_USAGE = 'usage: authz-sidecar audit verify DIR [--head HASH] [--partial]\n'
  + '       authz-sidecar audit verify --postgres URL [--table SCHEMA.TABLE] [--chain NAME]';
const QUERY_USAGE = 'usage: authz-sidecar audit query DIR [--tenant T] [--action A] [--result allow|deny|error] '
  + '[--principal P] [--reason R] [--decision-id ID] [--control FRAMEWORK:ID] [--since TIME] [--until TIME] [--limit N]\n'
  + '  TIME: an ISO date/time (2024-05-01, 2024-05-01T12:00:00Z) or a duration back from now (15m, 24h, 7d)';

class AuditUsageError extends Error {}

interface ParsedArgs {
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

function parseArgs(args: readonly string[], valued: readonly string[], booleans: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (booleans.includes(name) && eq < 0) {
      flags.set(name, true);
    } else if (valued.includes(name)) {
      const value = eq < 0 ? args[++i] : a.slice(eq + 1);
      if (value === undefined || value === '') throw new AuditUsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new AuditUsageError(`unknown option --${name}`);
    }
  }
  return { positional, flags };
}

async function requireDir(positional: readonly string[]): Promise<string> {
  if (positional.length !== 1) throw new AuditUsageError('expected exactly one DIR');
  const dir = positional[0] as string;
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new AuditUsageError(`${dir} is not a directory`);
  return dir;
}

async function withUsage(io: CliIo, usage: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof AuditUsageError)) throw err;
    io.stderr.write(`authz-sidecar audit: ${err.message}\n${usage}\n`);
    return 2;
  }
}

export function auditVerifyCommand(args: string[], io: CliIo): Promise<number> {
  return withUsage(io, VERIFY_USAGE, async () => {
    const { positional, flags } = parseArgs(args, ['head', 'postgres', 'table', 'chain'], ['partial']);
    const postgres = flags.get('postgres');
    if (typeof postgres === 'string') {
      if (positional.length > 0) throw new AuditUsageError('give either DIR or --postgres URL, not both');
      const table = flags.get('table');
      const chain = flags.get('chain');
      return verifyPostgresCommand(io, {
        url: postgres, table: typeof table === 'string' ? table : undefined, chain: typeof chain === 'string' ? chain : undefined,
      });
    }
    const dir = await requireDir(positional);
    const anchor = flags.get('head');
    if (typeof anchor === 'string' && !/^[0-9a-f]{64}$/.test(anchor)) throw new AuditUsageError('--head must be a hex SHA-256');
    const report = await verifyAuditDir(dir, {
      anchor: typeof anchor === 'string' ? anchor : undefined,
      partial: flags.get('partial') === true,
    });
    for (const note of report.notes) io.stderr.write(`note: ${note}\n`);
    if (report.problem !== undefined) {
      const p = report.problem;
      io.stdout.write(`TAMPERED ${p.file}:${p.line}: ${p.message}\n`);
      return 1;
    }
    const torn = report.torn ? `; torn last line ${report.torn.file}:${report.torn.line} (a crash mid-append, not tampering)` : '';
    io.stdout.write(`ok: ${report.events} events in ${report.files} file(s); head seq ${report.lastSeq} ${report.lastHash}${torn}\n`);
    return 0;
  });
}

export function auditQueryCommand(args: string[], io: CliIo): Promise<number> {
  return withUsage(io, QUERY_USAGE, async () => {
    const { positional, flags } = parseArgs(args,
      ['tenant', 'action', 'result', 'principal', 'reason', 'decision-id', 'control', 'since', 'until', 'limit'], []);
    const dir = await requireDir(positional);
    const str = (name: string): string | undefined => {
      const v = flags.get(name);
      return typeof v === 'string' ? v : undefined;
    };
    const time = (name: string): number | undefined => {
      const v = str(name);
      if (v === undefined) return undefined;
      const at = parseTimeArg(v);
      if (at === undefined) throw new AuditUsageError(`--${name}: not an ISO date/time or a duration like 24h: ${v}`);
      return at;
    };
    const result = str('result');
    if (result !== undefined && !['allow', 'deny', 'error'].includes(result)) {
      throw new AuditUsageError('--result must be allow, deny or error');
    }
    const limitArg = str('limit');
    const limit = limitArg === undefined ? undefined : Number(limitArg);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new AuditUsageError('--limit must be a positive integer');
    const q: AuditQuery = {
      tenant: str('tenant'), action: str('action'), result, principal: str('principal'), reason: str('reason'),
      decisionId: str('decision-id'), control: str('control'), since: time('since'), until: time('until'), limit,
    };
    for await (const m of queryAuditDir(dir, q, (file, line) => io.stderr.write(`warning: ${file}:${line} is not valid JSON; skipped\n`))) {
      io.stdout.write(m.line + '\n');
    }
    return 0;
  });
}

async function verifyPostgresCommand(io: CliIo, opts: PostgresVerifyOptions): Promise<number> {
  let report;
  try {
    report = await verifyPostgres(opts);
  } catch (err) {
    io.stderr.write(`authz-sidecar audit: cannot read the audit table: ${(err as Error).message}\n`);
    return 2;
  }
  for (const note of report.notes) io.stderr.write(`note: ${note}\n`);
  if (report.problem !== undefined) {
    const p = report.problem;
    io.stdout.write(`TAMPERED chain ${p.chain} seq ${p.seq} (decision ${p.decisionId}): ${p.message}\n`);
    return 1;
  }
  io.stdout.write(`ok: ${report.rows} rows in ${report.chains} chain(s)\n`);
  return 0;
}
