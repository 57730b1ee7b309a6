// One CHARGE script call carrying several decisions' charges (see
// redis-scripts.ts for the layout): the arguments for a batch, and the reply
// read back exactly. Anything but the exact shape — a string where an
// integer belongs, a null, a nested array, a wrong count, an echo of another
// call's nonce, a counter that contradicts the verdict — is refused as a
// whole: the caller answers every charge of the batch as Redis unavailable,
// never as charged.
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

export interface BatchCall {
  readonly keys: string[];
  readonly args: number[];
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
  const tail: number[] = [charges.length];
  for (let c = 0; c < charges.length; c++) {
    const { meters, keys: ck, slices } = charges[c]!;
    const mine = new Array<number>(meters.length);
    tail.push(meters.length);
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
      tail.push(k + 1, meters[i]!.amount);
    }
    slots[c] = mine;
  }
  const args = [nonce, fraction];
  for (const v of perKey) args.push(v);
  for (const v of tail) args.push(v);
  return { keys, args, slots, meterOf };
}

export type ChargeVerdict =
  /** `values[i]`: meter i's counter after the charge. */
  | { readonly admitted: true; readonly values: number[] }
  /** `refused`: the position of the refusing meter; `values[i]`: the counters as found. */
  | { readonly admitted: false; readonly refused: number; readonly values: number[] };

export interface BatchReply {
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
  let expected = 2 + 2 * call.keys.length;
  for (const c of charges) expected += 2 + c.meters.length;
  if (r.length !== expected) return `${r.length} elements where ${expected} belong`;
  for (let i = 0; i < r.length; i++) {
    const v = r[i];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return `element ${i} is ${describe(v)}, not an integer`;
  }
  const n = r as number[];
  if (n[0] !== nonce) return `answers call ${n[0]}, not ${nonce}`;
  if (n[1] !== charges.length) return `counts ${n[1]} charges, not ${charges.length}`;
  let p = 2;
  const verdicts = new Array<ChargeVerdict>(charges.length);
  for (let c = 0; c < charges.length; c++) {
    const meters = charges[c]!.meters;
    const admitted = n[p]!;
    const refused = n[p + 1]!;
    p += 2;
    const values = n.slice(p, p + meters.length);
    p += meters.length;
    if (admitted === 1) {
      if (refused !== 0) return `charge ${c} admitted and refused`;
      for (let i = 0; i < meters.length; i++) {
        // After an admitted charge a counter holds at least its amount, and at most the limit sent.
        const amount = meters[i]!.amount;
        const limit = call.meterOf[call.slots[c]![i]!]!.spec.limit;
        if (values[i]! < amount || values[i]! > limit) return `charge ${c}: counter ${values[i]} impossible after admitting ${amount} of ${limit}`;
      }
      verdicts[c] = { admitted: true, values };
    } else if (admitted === 0) {
      if (refused < 1 || refused > meters.length) return `charge ${c} refused by counter ${refused} of ${meters.length}`;
      for (const v of values) if (v < 0) return `charge ${c}: negative counter ${v}`;
      verdicts[c] = { admitted: false, refused: refused - 1, values };
    } else {
      return `charge ${c}: verdict ${admitted}`;
    }
  }
  const extra = new Array<number>(call.keys.length);
  const final = new Array<number>(call.keys.length);
  for (let k = 0; k < call.keys.length; k++, p += 2) {
    if (n[p]! < 0 || n[p + 1]! < 0) return `counter ${k}: negative slice or value`;
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
