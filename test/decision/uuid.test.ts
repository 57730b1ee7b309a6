// Decision and request ids: RFC 9562 version-4 UUIDs like crypto.randomUUID()'s,
// never repeated, across the refills of the entropy pool.
import t from 'tap';
import { randomUuid } from '../../src/decision/uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('version 4, variant 10, lower-case hex, unique over several pool refills', async (t) => {
  const seen = new Set<string>();
  const nibbles = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = randomUuid();
    if (!V4.test(id)) t.fail(`not a v4 UUID: ${id}`);
    seen.add(id);
    for (const c of id.replaceAll('-', '')) nibbles.add(c);
  }
  t.equal(seen.size, 1000, 'no id repeats');
  t.equal(nibbles.size, 16, 'every hex digit occurs: the bytes are random, not a fixed pattern');
});

t.test('an id is its own string: later ids do not change an earlier one', async (t) => {
  const first = randomUuid();
  const copy = `${first}`;
  for (let i = 0; i < 300; i++) randomUuid();
  t.equal(first, copy);
  t.ok(V4.test(first));
});
