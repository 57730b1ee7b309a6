// The embedded checker's memo of answers: a remembered answer is only ever
// given back for the same check at the same store revision.
import t from 'tap';
import { checkKey } from '../../../src/rebac/checker.js';
import { AnswerMemo } from '../../../src/rebac/embedded/answer-memo.js';

t.test('keys tell apart every input an answer depends on', async (t) => {
  const base = { user: 'user:a', relation: 'can_read', object: 'project:p' };
  const keys = [
    checkKey(base),
    checkKey({ ...base, user: 'user:b' }),
    checkKey({ ...base, relation: 'can_edit' }),
    checkKey({ ...base, object: 'project:q' }),
    checkKey({ ...base, context: { tenant: 'acme' }, contextKey: '4:acme' }),
    checkKey({ ...base, context: { tenant: 'globex' }, contextKey: '6:globex' }),
    checkKey({ ...base, context: { tenant: 'acme' } }),
    checkKey({ ...base, contextualTuples: [{ user: 'user:a', relation: 'member', object: 'group:g' }] }),
    checkKey({ ...base, contextualTuples: [{ user: 'user:a', relation: 'member', object: 'group:h' }] }),
  ];
  t.equal(new Set(keys).size, keys.length, 'all distinct');
  t.equal(checkKey({ ...base, contextualTuples: [] }), keys[0], 'no contextual tuples is none');
});

t.test('answers are forgotten when the revision moves', async (t) => {
  const memo = new AnswerMemo();
  t.equal(memo.get('k', 1), undefined, 'nothing at first');
  memo.set('k', 1, true);
  t.equal(memo.get('k', 1), true, 'remembered at its revision');
  t.equal(memo.get('k', 2), undefined, 'not at the next one');
  t.equal(memo.size, 0, 'forgotten');
  memo.set('k', 1, true);
  t.equal(memo.get('k', 2), undefined, 'an answer computed at an older revision is not kept');
});
