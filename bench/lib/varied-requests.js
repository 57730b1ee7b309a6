// `--vary N` of the in-process ladder: N distinct requests that the full
// pipeline (bench/config/full.yaml) allows, cycled one after the other, so
// that a memo keyed on the last request (a template segment, a key cache, a
// decision cache, the verified-token cache) is seen missing as well as
// hitting. With one repeated request every memo hits every time, which is
// the best case, not the usual one.
//
// Request i: subject `vary-<i>` with a token of its own (tenant_id, roles
// viewer or editor alternately), tenant VARY_TENANTS[i % 4], project
// `p-v<i>`, its own x-request-id. The config grants them: the embedded
// store gets `user:vary-<i> member org:<tenant>` and `org:<tenant> owner
// project:p-v<i>` on top of bench/config/rebac-tuples.yaml, and every tenant
// the budget limits acme has (an unlisted tenant would be refused).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkRequestMessage } from './requests.js';

/** Tenants the varied requests cycle through (acme first: the one the other benches use). */
export const VARY_TENANTS = ['acme', 'globex', 'initech', 'umbrella'];

/** The N principals and resources: [{ sub, tenant, roles, project, requestId }]. */
export function variedPrincipals(n) {
  return Array.from({ length: n }, (_, i) => ({
    sub: `vary-${i}`,
    tenant: VARY_TENANTS[i % VARY_TENANTS.length],
    roles: i % 2 === 0 ? ['viewer'] : ['editor'],
    project: `p-v${i}`,
    requestId: `5f0c2bb2-6a1e-4b51-9a53-${String(i).padStart(12, '0')}`,
  }));
}

/** Writes `<outDir>/rebac-tuples-vary.yaml`: `baseTuples`' lines plus the tuples granting `principals`; returns its path. */
export function writeVariedTuples(outDir, baseTuples, principals) {
  const lines = [readFileSync(baseTuples, 'utf8').trimEnd(), '# decide-ladder --vary: one member and one owned project per varied request.'];
  for (const p of principals) {
    lines.push(`- { user: "user:${p.sub}", relation: member, object: "org:${p.tenant}" }`);
    lines.push(`- { user: "org:${p.tenant}", relation: owner, object: "project:${p.project}" }`);
  }
  const file = path.join(outDir, 'rebac-tuples-vary.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Gives every tenant of `principals` the budget limits of `from` (a tenant the template lists). */
export function budgetEveryTenant(budget, principals, from = 'acme') {
  for (const p of principals) budget.tenants[p.tenant] ??= { ...budget.tenants[from] };
}

/**
 * `--vary <text>` read, and the CheckRequest messages to cycle: for 1, the one
 * request earlier figures were measured with (`base` with the bench's token);
 * for n > 1, one per varied principal (its own path, request id and token).
 * Resolves { vary: n, varied: the principals or undefined, messages: Buffer[] }.
 */
export async function variedCheckMessages(text, credentials, base) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--vary: ${text} is not a positive integer`);
  if (n === 1) return { vary: n, varied: undefined, messages: [Buffer.from(checkRequestMessage({ ...base, token: credentials.token }))] };
  const varied = variedPrincipals(n);
  const messages = await Promise.all(varied.map(async (p) => Buffer.from(checkRequestMessage({
    ...base, path: `/api/v1/tenants/${p.tenant}/projects/${p.project}`, requestId: p.requestId, token: await credentials.sign(p),
  }))));
  return { vary: n, varied, messages };
}
