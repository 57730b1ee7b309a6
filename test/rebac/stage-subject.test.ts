// How principals become OpenFGA users: escaping is injective, wildcards and
// oversized ids can never be produced, workloads follow workload_id.
import t from 'tap';
import { escapeFgaId, SubjectMapper } from '../../src/rebac/index.js';
import { principal } from '../support/principals.js';

const mapper = (o: Partial<{ user_type: string; workload_type: string; workload_id: 'path' | 'trust_domain_path' | 'spiffe_id' }> = {}) =>
  new SubjectMapper({ user_type: 'user', workload_type: 'workload', workload_id: 'path', ...o });

t.test('people are user:<sub>, escaped only where OpenFGA cannot take the character', async (t) => {
  const m = mapper();
  t.equal(m.userFor(principal({ id: 'alice' })), 'user:alice');
  t.equal(m.userFor(principal({ id: 'auth0|5f1c:x@y.z' })), 'user:auth0|5f1c:x@y.z', 'colons, pipes and @ are fine in ids');
  t.equal(m.userFor(principal({ id: 'a#b c' })), 'user:a%23b%20c');
  t.equal(m.userFor(principal({ id: 'a%23b c' })), 'user:a%2523b%20c', "'%' is escaped too, so 'a#b' and 'a%23b' stay distinct");
  t.match(m.userFor(principal({ id: '*' })), /^user:sha256-[0-9a-f]{64}$/, 'the wildcard is never produced');
  t.equal(escapeFgaId('*', 5), m.userFor(principal({ id: '*' }))!.slice(5), 'the same hash escapeFgaId gives');
  t.match(m.userFor(principal({ id: 'x'.repeat(600) })), /^user:sha256-[0-9a-f]{64}$/, 'too long for OpenFGA: hashed');
  t.equal(m.userFor(principal({ id: '', kind: 'anonymous' })), undefined);
  t.equal(mapper({ user_type: 'person' }).userFor(principal({ id: 'bob' })), 'person:bob');
});

t.test('workloads: path, trust_domain_path or the whole SPIFFE id', async (t) => {
  const w = principal({ id: 'spiffe://cluster.local/ns/acme/sa/api', kind: 'workload' });
  t.equal(mapper().userFor(w), 'workload:ns/acme/sa/api');
  t.equal(mapper({ workload_id: 'trust_domain_path' }).userFor(w), 'workload:cluster.local/ns/acme/sa/api');
  t.equal(mapper({ workload_id: 'spiffe_id', workload_type: 'service' }).userFor(w), 'service:spiffe://cluster.local/ns/acme/sa/api');
});
