// Answers of the embedded engine remembered per check, for as long as the
// store's revision (its model and tuples) is the one they were computed at.
//
// Why: a check resolves the model's rewrites against the tuple index afresh
// every time (can_read → viewer, can_edit, member from owner: a dozen map
// lookups, key strings and a resolver per check), while principals and
// objects repeat from one request to the next. An answer depends only on the
// store's state and on the check's inputs — user, relation, object, the
// request context (CEL conditions read nothing else) and contextual tuples —
// so a remembered answer is the answer, not an approximation: any write or
// reload bumps the revision and forgets them all. Only answers are kept;
// a check that throws is computed (and throws) again each time. Keys are
// checker.ts's checkKey(), as the remote engine's decision cache has them.

/** Entries kept at most; past it the memo starts over (cheaper than an LRU's bookkeeping per hit). */
const MAX_ANSWERS = 10_000;

export class AnswerMemo {
  private readonly answers = new Map<string, boolean>();
  private revision = -1;

  /** The remembered answer at `revision`, or undefined (also forgets everything when the revision moved). */
  get(key: string, revision: number): boolean | undefined {
    if (revision !== this.revision) {
      this.answers.clear();
      this.revision = revision;
      return undefined;
    }
    return this.answers.get(key);
  }

  /** Remembers an answer computed at `revision` (ignored when the memo has moved on since). */
  set(key: string, revision: number, allowed: boolean): void {
    if (revision !== this.revision) return;
    if (this.answers.size >= MAX_ANSWERS) this.answers.clear();
    this.answers.set(key, allowed);
  }

  get size(): number {
    return this.answers.size;
  }
}
