// The response writer's kept UTF-8 bytes: exact bytes for short strings
// (non-ASCII included), and nothing kept for a long one — a client can send
// owned-prefixed header names as long as its header limit allows.
import t from 'tap';
import { KNOWN_MAX_LENGTH, knownBytes } from '../../../src/transport/grpc/known-strings.js';

t.test('short strings are kept as their UTF-8 bytes, the same bytes every time', async (t) => {
  const bytes = knownBytes('x-authz-ü');
  t.same(bytes && Buffer.from(bytes), Buffer.from('x-authz-ü', 'utf8'));
  t.equal(knownBytes('x-authz-ü'), bytes, 'kept once');
});

t.test('a string over the length limit is not kept', async (t) => {
  t.equal(knownBytes('x-authz-' + 'a'.repeat(KNOWN_MAX_LENGTH)), undefined);
  t.equal(knownBytes('x'.repeat(60_000)), undefined);
});
