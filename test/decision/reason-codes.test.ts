// The reason-code catalogue is the one source: the generated docs match it,
// and every code the source produces in a deny is catalogued.
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REASON_CODES, isReasonCode, renderReasonCodesMarkdown } from '../../src/decision/reason-codes.js';
import { IdentityReason } from '../../src/identity/reasons.js';
import { REBAC_BAD_REQUEST, REBAC_DENIED, REBAC_UNAVAILABLE } from '../../src/rebac/reasons.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

t.test('docs/reason-codes.md is the generated catalogue (run `npm run docs` after changing it)', async (t) => {
  const onDisk = readFileSync(join(root, 'docs/reason-codes.md'), 'utf8');
  t.equal(onDisk, renderReasonCodesMarkdown());
});

t.test('every identity reason is catalogued with status 401', async (t) => {
  for (const code of Object.values(IdentityReason)) {
    t.ok(isReasonCode(code), `${code} is in the catalogue`);
    if (isReasonCode(code)) t.equal(REASON_CODES[code].status, 401, `${code} is a 401`);
  }
});

t.test('the rebac stage\'s reasons are catalogued', async (t) => {
  for (const code of [REBAC_DENIED, REBAC_UNAVAILABLE, REBAC_BAD_REQUEST]) t.ok(isReasonCode(code), code);
});

t.test('every reason a deny is built with in src/ is catalogued', async (t) => {
  // A deny names its status next to its reason: `deny(403, 'x')`, `transportDeny(503, 'x')`,
  // `{ kind: 'deny', status: 403, reason: 'x' }`. Metric label values (eviction reasons…) do not.
  const denyWithStatus = /(?:[dD]eny\(\s*\d{3},\s*|status:\s*\d{3},\s*reason:\s*)'([a-z0-9_]+)'/g;
  const malformed = /malformed\s*(?:\?\?=|=)\s*'([a-z0-9_]+)'/g;
  const found = new Map<string, string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const re of [denyWithStatus, malformed]) {
      for (const m of text.matchAll(re)) found.set(m[1]!, file.slice(root.length));
    }
  }
  t.ok(found.size >= 10, `the scan finds the deny sites (${found.size} codes)`);
  for (const [code, file] of found) t.ok(isReasonCode(code), `${code} (${file}) is in src/decision/reason-codes.ts`);
});
