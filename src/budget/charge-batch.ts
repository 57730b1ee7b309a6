// One CHARGE script call carrying several decisions' charges (see
// redis-scripts.ts for the layout): the arguments for a batch, and the reply
// read back exactly. Anything but the exact shape — a string where an
// integer belongs, a null, a nested array, a wrong count, an echo of another
// call's nonce, a counter that contradicts the verdict or the counters
// before it — is refused as a whole: the caller answers every charge of the
// batch as Redis unavailable, never as charged.
//
// Charges of the same shape (the same counters, the same amounts: most
// concurrent decisions of one tenant and route) travel as one group, "n such
// charges", and come back as "the first `admitted` of them fit": a batch of
// 16 identical charges is ~20 arguments and ~16 reply integers instead of
// ~160 and ~100, which is most of what ioredis, the reply guard and the Lua
// interpreter spent per charge. The script still decides them one after
// another; a group only says how many in a row fit.
import type { Meter } from './plan.js';

/** Counters outlive their window by this much, so sidecars with slightly skewed clocks still share them. */
export const EXPIRY_GRACE_MS = 2000;

export interface BatchCharge {
  readonly meters: readonly Meter[];
  /** Full keys (with the backend's prefix), one per meter. */
  readonly keys: readonly string[];
  /** Per meter: the lease slice to ask for (0: none), as the script's `lease` argument. */
  readonly slices: readonly number[];
}

/** Charges of one shape: for each meter, the same counter and amount. */
export interface ChargeGroup {
  /** Indexes (into the batch) of its charges, in batch order. */
  readonly members: number[];
  /** Per meter: its counter's index in `keys`. */
  readonly slots: number[];
  readonly amounts: number[];
  /**
   * Per meter: what one charge adds to that meter's counter — its amount, or
   * the sum when a charge names one counter twice (never built so, but the
   * script and the reader agree on it either way).
   */
  readonly need: number[];
  /** Next group whose first counter is the same (lookup chain). */
  next: ChargeGroup | undefined;
}

export interface BatchCall {
  readonly keys: string[];
  readonly args: number[];
  readonly groups: ChargeGroup[];
  /** For each charge, for each of its meters: the index of its counter in `keys`. */
  readonly slots: number[][];
  /** For each counter in `keys`, one meter on it (for its limit and window). */
  readonly meterOf: Meter[];
}

export function buildBatch(charges: readonly BatchCharge[], nonce: number, fraction: number, now: number): BatchCall {
  const index = new Map<string, number>();
  const keys: string[] = [];
  const meterOf: Meter[] = [];
  const perKey: number[] = [];
  const slots: number[][] = new Array<number[]>(charges.length);
  const groups: ChargeGroup[] = [];
  /** By the index of a group's first counter: the groups that start there. */
  const byFirst = new Map<number, ChargeGroup>();
  for (let c = 0; c < charges.length; c++) {
    const { meters, keys: ck, slices } = charges[c]!;
    const mine = new Array<number>(meters.length);
    for (let i = 0; i < meters.length; i++) {
      const key = ck[i]!;
      let k = index.get(key);
      if (k === undefined) {
        k = keys.length;
        index.set(key, k);
        keys.push(key);
        const m = meters[i]!;
        meterOf.push(m);
        perKey.push(m.spec.limit, m.window.end - now + EXPIRY_GRACE_MS, slices[i]!);
      } else if (slices[i]! > perKey[3 * k + 2]!) {
        perKey[3 * k + 2] = slices[i]!;
      }
      mine[i] = k;
    }
    const first = mine.length > 0 ? mine[0]! : -1;
    let g = byFirst.get(first);
    while (g !== undefined && !sameShape(g, mine, meters)) g = g.next;
    if (g === undefined) {
      g = newGroup(mine, meters, byFirst.get(first));
      byFirst.set(first, g);
      groups.push(g);
      slots[c] = mine;
    } else {
      slots[c] = g.slots;
    }
    g.members.push(c);
  }
  const args = [nonce, fraction];
  for (const v of perKey) args.push(v);
  args.push(groups.length);
  for (const g of groups) {
    args.push(g.members.length, g.slots.length);
    for (let i = 0; i < g.slots.length; i++) args.push(g.slots[i]! + 1, g.amounts[i]!);
  }
  return { keys, args, groups, slots, meterOf };
}

function sameShape(g: ChargeGroup, slots: readonly number[], meters: readonly Meter[]): boolean {
  if (g.slots.length !== slots.length) return false;
  for (let i = 0; i < slots.length; i++) {
    if (g.slots[i] !== slots[i] || g.amounts[i] !== meters[i]!.amount) return false;
  }
  return true;
}

function newGroup(slots: number[], meters: readonly Meter[], next: ChargeGroup | undefined): ChargeGroup {
  const amounts = new Array<number>(meters.length);
  const need = new Array<number>(meters.length);
  for (let i = 0; i < meters.length; i++) amounts[i] = meters[i]!.amount;
  for (let i = 0; i < meters.length; i++) {
    let sum = 0;
    for (let j = 0; j < meters.length; j++) if (slots[j] === slots[i]) sum += amounts[j]!;
    need[i] = sum;
  }
  return { members: [], slots, amounts, need, next };
}

export type ChargeVerdict =
  /** `values[i]`: meter i's counter after the charge. */
  | { readonly admitted: true; readonly values: number[] }
  /** `refused`: the position of the refusing meter; `values[i]`: the counters as found. */
  | { readonly admitted: false; readonly refused: number; readonly values: number[] };

export interface BatchReply {
  /** One per charge of the batch, in batch order. */
  readonly verdicts: ChargeVerdict[];
  /** Per counter of the call: the lease slice granted and the counter's value at the end. */
  readonly extra: number[];
  readonly final: number[];
}

/** The reply read exactly, or a string saying why it is refused. */
export function readBatchReply(
  reply: unknown,
  nonce: number,
  charges: readonly BatchCharge[],
  call: BatchCall,
): BatchReply | string {
  if (!Array.isArray(reply)) return `not an array (${describe(reply)})`;
  const r = reply as unknown[];
  const { groups, meterOf } = call;
  let expected = 2 + 2 * call.keys.length;
  for (const g of groups) expected += 2 + g.slots.length;
  if (r.length !== expected) return `${r.length} elements where ${expected} belong`;
  for (let i = 0; i < r.length; i++) {
    const v = r[i];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return `element ${i} is ${describe(v)}, not an integer`;
  }
  const n = r as number[];
  if (n[0] !== nonce) return `answers call ${n[0]}, not ${nonce}`;
  if (n[1] !== groups.length) return `counts ${n[1]} groups, not ${groups.length}`;
  // Each counter's value as the script went: found by the first group on it,
  // then what each group admitted. Every later group must report exactly that.
  const running = new Array<number>(call.keys.length).fill(-1);
  const verdicts = new Array<ChargeVerdict>(charges.length);
  let p = 2;
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi]!;
    const size = g.members.length;
    const m = g.slots.length;
    const admitted = n[p]!;
    const refused = n[p + 1]!;
    p += 2;
    const before = n.slice(p, p + m);
    p += m;
    if (admitted < 0 || admitted > size) return `group ${gi}: ${admitted} of ${size} charges admitted`;
    if (admitted === size ? refused !== 0 : refused < 1 || refused > m) {
      return `group ${gi}: ${admitted} of ${size} admitted, refused by counter ${refused} of ${m}`;
    }
    for (let i = 0; i < m; i++) {
      const k = g.slots[i]!;
      const v = before[i]!;
      if (v < 0) return `group ${gi}: negative counter ${v}`;
      if (running[k] !== -1 && running[k] !== v) return `group ${gi}: counter ${k} found at ${v}, not ${running[k]}`;
      running[k] = v;
    }
    for (let i = 0; i < m; i++) {
      // What was admitted fits under the limit sent; the refusing counter really has no room for one more.
      const limit = meterOf[g.slots[i]!]!.spec.limit;
      if (admitted > 0 && before[i]! + admitted * g.need[i]! > limit) {
        return `group ${gi}: counter ${before[i]} cannot take ${admitted} × ${g.need[i]} under ${limit}`;
      }
      if (i === refused - 1 && before[i]! + (admitted + 1) * g.need[i]! <= limit) {
        return `group ${gi}: counter ${before[i]} refused although ${g.need[i]} more fits under ${limit}`;
      }
    }
    // Duplicate slots within the shape add `need` once per counter, not per meter.
    for (let i = 0; i < m; i++) {
      const k = g.slots[i]!;
      if (g.slots.indexOf(k) === i) running[k] = running[k]! + admitted * g.need[i]!;
    }
    for (let t = 0; t < size; t++) {
      const values = new Array<number>(m);
      const times = t < admitted ? t + 1 : admitted;
      for (let i = 0; i < m; i++) values[i] = before[i]! + times * g.need[i]!;
      verdicts[g.members[t]!] = t < admitted ? { admitted: true, values } : { admitted: false, refused: refused - 1, values };
    }
  }
  const extra = new Array<number>(call.keys.length);
  const final = new Array<number>(call.keys.length);
  for (let k = 0; k < call.keys.length; k++, p += 2) {
    if (n[p]! < 0 || n[p + 1]! < 0) return `counter ${k}: negative slice or value`;
    // Every counter is charged through some group: its final value is where the groups left it, plus the slice.
    if (n[p + 1] !== running[k]! + n[p]!) return `counter ${k}: ends at ${n[p + 1]}, not ${running[k]} + slice ${n[p]}`;
    extra[k] = n[p]!;
    final[k] = n[p + 1]!;
  }
  return { verdicts, extra, final };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Error) return `an error (${v.message.slice(0, 60)})`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 20))}`;
  return typeof v === 'number' ? String(v) : typeof v;
}
