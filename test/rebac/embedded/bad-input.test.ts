// Bad models and tuple files produce clear errors; a bad reload keeps the last
// good model and tuples serving; large tuple files load.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EmbeddedFileSource, FgaCheckError, loadEmbeddedStore } from '../../../src/rebac/embedded/index.js';
import { parseModelText } from '../../../src/rebac/model/load.js';
import { TypeSystem } from '../../../src/rebac/model/typesystem.js';
import { parseTuplesText } from '../../../src/rebac/model/tuples.js';
import { parseSimpleTupleYaml } from '../../../src/rebac/model/tuples-fast.js';

const MODEL = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user]
`;

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'fga-bad-'));
}

function load(model: string, tuples: string): FgaCheckError {
  const d = dir();
  writeFileSync(join(d, 'model.fga'), model);
  writeFileSync(join(d, 'tuples.yaml'), tuples);
  try {
    loadEmbeddedStore({ modelPath: join(d, 'model.fga'), tuplesPath: join(d, 'tuples.yaml') });
  } catch (err) {
    if (err instanceof FgaCheckError) return err;
    throw err;
  }
  throw new Error('expected the load to fail');
}

t.test('tuple files: unknown type, unknown relation, malformed ids, wrong type restriction', async (t) => {
  t.match(load(MODEL, '- { user: "user:a", relation: viewer, object: "folder:1" }\n').message, /tuple #1.*type 'folder' not found/);
  t.match(load(MODEL, '- { user: "user:a", relation: editor, object: "doc:1" }\n').message, /relation 'doc#editor' not found/);
  t.match(load(MODEL, '- { user: "user:a", relation: viewer, object: "doc" }\n').message, /object must be 'type:id'/);
  t.match(load(MODEL, '- { user: "alice", relation: viewer, object: "doc:1" }\n').message, /user must be 'type:id'/);
  t.match(load(MODEL, '- { user: "user:*", relation: viewer, object: "doc:1" }\n').message, /'user:\*' is not an allowed type restriction/);
  t.match(load(MODEL, '- { user: "user:a", relation: viewer }\n').message, /missing 'object'/);
  t.match(load(MODEL, 'tuples: 3\n').message, /expected a list of tuples/);
  t.match(load(MODEL, '- [unclosed\n').message, /does not parse as YAML/);
});

t.test('models: syntax errors, unknown references, size limit', async (t) => {
  t.throws(() => parseModelText('model\n  schema 1.1\ntype user\n  relations\n    define viewer [user]\n'), { code: 'invalid_authorization_model', message: /model does not parse/ });
  t.throws(() => parseModelText(MODEL.replace('[user]', '[nobody]')), { code: 'invalid_authorization_model', message: /nobody/ });
  const json = (rels: object) => JSON.stringify({ schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc', ...rels }] });
  t.throws(() => new TypeSystem(parseModelText(json({ relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'ghost' }] } } } })), 'x'), {
    code: 'invalid_authorization_model',
    message: /unknown type 'ghost'/,
  });
  t.throws(() => new TypeSystem(parseModelText(json({ relations: { viewer: { computedUserset: { relation: 'owner' } } } })), 'x'), { message: /relation 'owner' does not exist on type 'doc'/ });
  t.throws(() => new TypeSystem(parseModelText(json({ relations: { a: { computedUserset: { relation: 'b' } }, b: { computedUserset: { relation: 'a' } } } })), 'x'), { message: /only in terms of itself/ });
  t.throws(() => new TypeSystem(parseModelText('{"schema_version":"1.0","type_definitions":[{"type":"user"}]}'), 'x'), { message: /unsupported schema version/ });
  t.throws(() => parseModelText('{ not json'), { message: /model JSON does not parse/ });
  const big = MODEL + '\n'.padEnd(1024 * 1024, '#');
  t.throws(() => parseModelText(big), { code: 'invalid_authorization_model', message: /more than the limit of 262144 bytes/ });
  const cond = `model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user with c]\ncondition c(x: int) {\n  x <<< 1\n}\n`;
  t.throws(() => new TypeSystem(parseModelText(cond), 'x'), { message: /condition 'c'|does not/ });
});

t.test('a bad reload keeps the last good model and tuples', async (t) => {
  const d = dir();
  const modelPath = join(d, 'model.fga');
  const tuplesPath = join(d, 'tuples.yaml');
  writeFileSync(modelPath, MODEL);
  writeFileSync(tuplesPath, '- { user: "user:a", relation: viewer, object: "doc:1" }\n');
  const src = new EmbeddedFileSource({ modelPath, tuplesPath });
  t.match(src.reload(), { ok: true, changed: true });
  const goodModel = src.store.getModel().id;
  const allowed = () => src.store.check({ tuple_key: { user: 'user:a', relation: 'viewer', object: 'doc:1' } }).allowed;
  t.ok(allowed());

  writeFileSync(modelPath, 'model\n  schema 1.1\ntype user\n  relations\n    define ??? \n');
  const r1 = src.reload();
  t.equal(r1.ok, false);
  t.equal(src.store.getModel().id, goodModel, 'model unchanged');
  t.ok(allowed(), 'still serving');

  writeFileSync(modelPath, MODEL);
  writeFileSync(tuplesPath, '- { user: "user:a", relation: viewer, object: "doc:1" }\n- { user: "user:b", relation: owner, object: "doc:1" }\n');
  const r2 = src.reload();
  t.equal(r2.ok, false);
  t.match(!r2.ok && r2.error.message, /tuple #2.*relation 'doc#owner' not found/);
  t.ok(allowed(), 'tuples unchanged');

  writeFileSync(tuplesPath, '- { user: "user:b", relation: viewer, object: "doc:1" }\n');
  t.match(src.reload(), { ok: true, changed: true });
  t.notOk(allowed(), 'removed tuple no longer grants');
  const changes = src.store.readChanges({ pageSize: 100 }).changes.map((c) => `${c.operation}:${c.tuple_key.user}`);
  t.same(changes, ['TUPLE_OPERATION_WRITE:user:a', 'TUPLE_OPERATION_DELETE:user:a', 'TUPLE_OPERATION_WRITE:user:b'], 'reload diff is in the changelog');
});

t.test('100k-line tuple files: load, and a bad line deep inside is named', async (t) => {
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) lines.push(`- { user: "user:u${i}", relation: viewer, object: "doc:d${i % 500}" }`);
  const d = dir();
  writeFileSync(join(d, 'model.fga'), MODEL);
  writeFileSync(join(d, 'tuples.yaml'), lines.join('\n'));
  const src = loadEmbeddedStore({ modelPath: join(d, 'model.fga'), tuplesPath: join(d, 'tuples.yaml') });
  t.equal(src.store.tupleCount, 100_000);
  t.ok(src.store.check({ tuple_key: { user: 'user:u99999', relation: 'viewer', object: 'doc:d499' } }).allowed);
  t.notOk(src.store.check({ tuple_key: { user: 'user:u99999', relation: 'viewer', object: 'doc:d0' } }).allowed);

  lines[99_998] = '- { user: "user:x", relation: viewer, object: "doc:" }';
  writeFileSync(join(d, 'tuples.yaml'), lines.join('\n'));
  const r = src.reload();
  t.equal(r.ok, false);
  t.match(!r.ok && r.error.message, /tuple #99999/);
  t.equal(src.store.tupleCount, 100_000, 'last good tuples kept');
});

t.test('tuple limit per file', async (t) => {
  t.throws(() => parseTuplesText('- { user: "user:a", relation: viewer, object: "doc:1" }\n- { user: "user:b", relation: viewer, object: "doc:1" }\n', 'f', 1), {
    code: 'exceeded_entity_limit',
  });
});

t.test('the fast YAML path agrees with the YAML parser, and defers when unsure', async (t) => {
  const samples = [
    '- { user: "user:a", relation: viewer, object: "doc:1" }\n- {user: user:b, relation: viewer, object: doc:2}\n',
    '# comment\n- user: user:a\n  relation: viewer\n  object: doc:1\n\n- user: "user:b"\n  relation: \'viewer\'\n  object: doc:2\n',
    '- { user: "user:a", relation: viewer, object: "doc:1" }\n',
  ];
  for (const s of samples) t.same(parseSimpleTupleYaml(s), parseYaml(s), s);
  const unsure = [
    '- { user: "user:a", relation: 123, object: "doc:1" }\n',
    '- user: user:a\n  relation: viewer\n  object: doc:1\n  condition:\n    name: c\n',
    'tuples:\n  - { user: "user:a", relation: viewer, object: "doc:1" }\n',
    '- { user: "user:a,b", relation: viewer, object: "doc:1" }\n',
    '- { user: "user:\\u0041", relation: viewer, object: "doc:1" }\n',
    '- { user: &x "user:a", relation: viewer, object: "doc:1" }\n',
  ];
  for (const s of unsure) t.equal(parseSimpleTupleYaml(s), undefined, s);
  t.same(parseTuplesText(unsure[2]!), [{ user: 'user:a', relation: 'viewer', object: 'doc:1' }], 'falls back to the YAML parser');
  t.same(parseTuplesText(unsure[3]!), [{ user: 'user:a,b', relation: 'viewer', object: 'doc:1' }]);
});
