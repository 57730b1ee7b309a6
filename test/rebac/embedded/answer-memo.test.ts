// The embedded checker's memo of answers: a remembered answer is only ever
// given back for the same check at the same store revision.
import t from 'tap';
import { AnswerMemo } from '../../../src/rebac/embedded/answer-memo.js';

t.test('keys tell apart every input an answer depends on', async (t) => {
  const base = { user: 'user:a', relation: 'can_read', object: 'project:p' };
  const keys = [
    AnswerMemo.keyOf(base),
    AnswerMemo.keyOf({ ...base, user: 'user:b' }),
    AnswerMemo.keyOf({ ...base, relation: 'can_edit' }),
    AnswerMemo.keyOf({ ...base, object: 'project:q' }),
    AnswerMemo.keyOf({ ...base, context: { tenant: 'acme' }, contextKey: '4:acme' }),
    AnswerMemo.keyOf({ ...base, context: { tenant: 'globex' }, contextKey: '6:globex' }),
    AnswerMemo.keyOf({ ...base, context: { tenant: 'acme' } }),
    AnswerMemo.keyOf({ ...base, contextualTuples: [{ user: 'user:a', relation: 'member', object: 'group:g' }] }),
    AnswerMemo.keyOf({ ...base, contextualTuples: [{ user: 'user:a', relation: 'member', object: 'group:h' }] }),
  ];
  t.equal(new Set(keys).size, keys.length, 'all distinct');
  t.equal(AnswerMemo.keyOf({ ...base, contextualTuples: [] }), keys[0], 'no contextual tuples is none');
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
