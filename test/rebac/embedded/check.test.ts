// Check semantics beyond the conformance cases: depth limit, condition context
// precedence, contextual tuples, model versions, writes and the changelog.
import t from 'tap';
import { transformer } from '@openfga/syntax-transformer';
import { EmbeddedStore, FgaCheckError } from '../../../src/rebac/embedded/index.js';
import type { AuthorizationModel } from '../../../src/rebac/embedded/index.js';

const dsl = (s: string): AuthorizationModel => transformer.transformDSLToJSONObject(s) as unknown as AuthorizationModel;

const MODEL = dsl(`model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define parent: [doc]
    define owner: [user]
    define blocked: [user]
    define viewer: ([user, user:*, group#member, user with in_hours] or owner or viewer from parent) but not blocked
condition in_hours(hour: int, start: int) {
  hour >= start && hour < 18
}
`);

function store(): EmbeddedStore {
  const s = new EmbeddedStore({ name: 'test' });
  s.writeAuthorizationModel(MODEL);
  return s;
}

const check = (s: EmbeddedStore, user: string, relation: string, object: string, extra: object = {}): boolean =>
  s.check({ tuple_key: { user, relation, object }, ...extra }).allowed;

t.test('nested groups, parents, exclusion', async (t) => {
  const s = store();
  s.write(
    [
      { user: 'user:ann', relation: 'member', object: 'group:a' },
      { user: 'group:a#member', relation: 'member', object: 'group:b' },
      { user: 'group:b#member', relation: 'viewer', object: 'doc:root' },
      { user: 'doc:root', relation: 'parent', object: 'doc:child' },
      { user: 'user:bob', relation: 'owner', object: 'doc:child' },
      { user: 'user:bob', relation: 'blocked', object: 'doc:child' },
    ],
    [],
  );
  t.ok(check(s, 'user:ann', 'viewer', 'doc:child'), 'two group hops and a parent hop');
  t.ok(check(s, 'group:a#member', 'viewer', 'doc:root'), 'a userset as the user');
  t.notOk(check(s, 'user:bob', 'viewer', 'doc:child'), 'owner but blocked');
  t.notOk(check(s, 'user:zed', 'viewer', 'doc:child'));
});

t.test('a deep parent chain hits the resolution depth limit as an error', async (t) => {
  const s = store();
  const writes = [];
  for (let i = 0; i < 40; i++) writes.push({ user: `doc:d${i + 1}`, relation: 'parent', object: `doc:d${i}` });
  writes.push({ user: 'user:deep', relation: 'owner', object: 'doc:d40' });
  s.write(writes.slice(0, 41), []);
  t.throws(() => check(s, 'user:deep', 'viewer', 'doc:d0'), { code: 'authorization_model_resolution_too_complex', numericCode: 2002, httpStatus: 400 });
  t.ok(check(s, 'user:deep', 'viewer', 'doc:d35'), 'a short chain resolves');
});

t.test('conditions: request context, tuple context wins, missing parameter is an error', async (t) => {
  const s = store();
  s.write([{ user: 'user:cy', relation: 'viewer', object: 'doc:c', condition: { name: 'in_hours', context: { start: 9 } } }], []);
  t.ok(check(s, 'user:cy', 'viewer', 'doc:c', { context: { hour: 10 } }));
  t.notOk(check(s, 'user:cy', 'viewer', 'doc:c', { context: { hour: 20 } }));
  t.notOk(check(s, 'user:cy', 'viewer', 'doc:c', { context: { hour: 8, start: 0 } }), 'tuple context overrides the request');
  t.throws(() => check(s, 'user:cy', 'viewer', 'doc:c'), { code: 'validation_error', numericCode: 2000, message: /missing context parameters \[hour\]/ });
  t.throws(() => check(s, 'user:cy', 'viewer', 'doc:c', { context: { hour: 'ten' } }), { code: 'validation_error', message: /could not convert/ });
});

t.test('contextual tuples count for one request only and are validated', async (t) => {
  const s = store();
  const ctx = { contextual_tuples: [{ user: 'user:tmp', relation: 'owner', object: 'doc:x' }] };
  t.ok(check(s, 'user:tmp', 'viewer', 'doc:x', ctx));
  t.notOk(check(s, 'user:tmp', 'viewer', 'doc:x'));
  t.throws(() => check(s, 'user:tmp', 'viewer', 'doc:x', { contextual_tuples: [{ user: 'user:tmp', relation: 'owner', object: 'nope:x' }] }), {
    code: 'invalid_tuple',
    numericCode: 2027,
  });
});

t.test('bad requests: OpenFGA validation errors', async (t) => {
  const s = store();
  const bad = (user: string, relation: string, object: string, msg: RegExp): void => {
    try {
      check(s, user, relation, object);
      t.fail(`expected an error for ${user} ${relation} ${object}`);
    } catch (err) {
      t.ok(err instanceof FgaCheckError, 'an FgaCheckError');
      t.match(err, { numericCode: 2000, httpStatus: 400, message: msg });
    }
  };
  bad('user:a', 'viewer', 'doc', /'object' field format/);
  bad('user:a', 'viewer', 'doc:', /'object' field format/);
  bad('alice', 'viewer', 'doc:1', /'user' field format/);
  bad('user:a', 'nope', 'doc:1', /relation 'doc#nope' not found/);
  bad('user:a', 'viewer', 'folder:1', /type 'folder' not found/);
  bad('team:x', 'viewer', 'doc:1', /type 'team' not found/);
  bad('group:x#boss', 'viewer', 'doc:1', /relation 'group#boss' not found/);
  const empty = new EmbeddedStore();
  t.throws(() => check(empty, 'user:a', 'viewer', 'doc:1'), { code: 'latest_authorization_model_not_found' });
});

t.test('model versions: latest by default, an older one by id', async (t) => {
  const s = store();
  const v1 = s.getModel().id;
  s.write([{ user: 'user:*', relation: 'viewer', object: 'doc:pub' }], []);
  const v2 = s.writeAuthorizationModel(dsl(`model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user]\n`));
  t.not(v1, v2);
  t.notOk(check(s, 'user:any', 'viewer', 'doc:pub'), 'wildcard tuple no longer allowed by the latest model');
  t.ok(check(s, 'user:any', 'viewer', 'doc:pub', { authorization_model_id: v1 }), 'still allowed under v1');
  t.same(s.listModels().map((m) => m.id), [v2, v1], 'newest first');
  t.throws(() => s.getModel('01ARZ3NDEKTSV4RRFFQ69G5FAV'), { code: 'authorization_model_not_found' });
});

t.test('write: duplicates, missing deletes, atomicity, and the changelog', async (t) => {
  const s = store();
  const a = { user: 'user:a', relation: 'owner', object: 'doc:1' };
  const b = { user: 'user:b', relation: 'owner', object: 'doc:1' };
  s.write([a], []);
  t.throws(() => s.write([a], []), { code: 'write_failed_due_to_invalid_input', message: /already exists/ });
  t.throws(() => s.write([b], [{ user: 'user:zz', relation: 'owner', object: 'doc:1' }]), { code: 'write_failed_due_to_invalid_input', message: /does not exist/ });
  t.notOk(check(s, 'user:b', 'viewer', 'doc:1'), 'the failed transaction wrote nothing');
  t.throws(() => s.write([b, b], []), { code: 'cannot_allow_duplicate_tuples_in_one_request' });
  s.write([a], [], { onDuplicate: 'ignore' });
  s.write([b], [a]);
  const first = s.readChanges({ pageSize: 2 });
  t.same(first.changes.map((c) => c.operation), ['TUPLE_OPERATION_WRITE', 'TUPLE_OPERATION_DELETE']);
  const second = s.readChanges({ pageSize: 2, continuationToken: first.continuation_token });
  t.same(second.changes.map((c) => `${c.operation} ${c.tuple_key.user}`), ['TUPLE_OPERATION_WRITE user:b']);
  const idle = s.readChanges({ continuationToken: second.continuation_token });
  t.same(idle.changes, []);
  t.equal(idle.continuation_token, second.continuation_token, 'an idle feed returns the same token');
  s.write([{ user: 'user:c', relation: 'member', object: 'group:g' }], []);
  const typed = s.readChanges({ type: 'group' });
  t.same(typed.changes.map((c) => c.tuple_key.object), ['group:g']);
  t.throws(() => s.readChanges({ continuationToken: 'garbage!' }), { code: 'invalid_continuation_token' });
  t.throws(() => s.readChanges({ type: 'doc', continuationToken: typed.continuation_token }), { code: 'query_string_type_continuation_token_mismatch' });
});

t.test('read: filters and pagination', async (t) => {
  const s = store();
  const writes = [];
  for (let i = 0; i < 7; i++) writes.push({ user: `user:u${i}`, relation: 'owner', object: 'doc:r' });
  writes.push({ user: 'user:u0', relation: 'owner', object: 'doc:other' });
  s.write(writes, []);
  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = s.read({ object: 'doc:r' }, 3, token);
    t.ok(page.tuples.length <= 3);
    seen.push(...page.tuples.map((x) => x.key.user));
    token = page.continuation_token || undefined;
  } while (token);
  t.equal(seen.length, 7);
  t.equal(new Set(seen).size, 7);
  t.same(s.read({ object: 'doc:', user: 'user:u0' }).tuples.map((x) => x.key.object).sort(), ['doc:other', 'doc:r']);
  t.equal(s.read(undefined, 100).tuples.length, 8);
  t.throws(() => s.read({ object: 'doc:' }), { code: 'validation_error' });
});
