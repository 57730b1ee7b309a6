// The chain head file is replaced atomically (a temporary file renamed over
// it) with the temporary file opened ahead of each write: whatever order the
// writes come in, the file holds the last head, a failed write is reported
// and the next one succeeds, and nothing is left behind once closed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ChainHead } from '../../src/audit/hash-chain.js';
import { HeadFile } from '../../src/audit/trail/head-file.js';

const head = (seq: number): ChainHead => ({ file: 'audit-2026-12-02-000000000001.jsonl', line: seq, seq, hash: String(seq % 10).repeat(64), offset: seq * 1000 });

function scratch(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'head-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('writes in a row leave the last head, and nothing else once closed', async (t) => {
  const dir = scratch(t);
  const errors: unknown[] = [];
  const file = new HeadFile(join(dir, 'audit-head.json'), (err) => errors.push(err));
  await file.write(head(1));
  t.same(JSON.parse(readFileSync(join(dir, 'audit-head.json'), 'utf8')), head(1));
  // Not awaited one by one: they share the temporary file and must not interleave.
  await Promise.all([2, 3, 4, 5].map((s) => file.write(head(s))));
  t.same(JSON.parse(readFileSync(join(dir, 'audit-head.json'), 'utf8')), head(5));
  t.same(errors, []);
  await file.close();
  t.same(readdirSync(dir), ['audit-head.json'], 'the temporary file opened ahead is removed');
});

t.test('a head that cannot be written is reported, the old head stays, and the next write succeeds', async (t) => {
  const dir = scratch(t);
  const errors: unknown[] = [];
  const path = join(dir, 'audit-head.json');
  const file = new HeadFile(path, (err) => errors.push(err));
  await file.write(head(1));
  await file.close();
  // A directory in the way of the temporary file: opening it for writing fails.
  const failing = new HeadFile(path, (err) => errors.push(err));
  mkdirSync(`${path}.tmp`);
  await failing.write(head(2));
  t.equal(errors.length, 1, 'reported');
  t.same(JSON.parse(readFileSync(path, 'utf8')), head(1), 'the old head stands');
  rmSync(`${path}.tmp`, { recursive: true });
  await failing.write(head(3));
  t.same(JSON.parse(readFileSync(path, 'utf8')), head(3), 'the next head is written');
  await failing.close();
  t.notOk(existsSync(`${path}.tmp`));
});
