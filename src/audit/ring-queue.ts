// A bounded FIFO over a fixed array: push and shift are O(1) and allocate
// nothing, so enqueueing on the decision path costs a few stores.
export class RingQueue<T> {
  private readonly slots: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count === this.capacity;
  }

  /** False (and nothing stored) when full. */
  push(item: T): boolean {
    if (this.count === this.capacity) return false;
    let i = this.head + this.count;
    if (i >= this.capacity) i -= this.capacity;
    this.slots[i] = item;
    this.count++;
    return true;
  }

  /** Removes and returns up to `max` items, oldest first. */
  take(max: number): T[] {
    const n = Math.min(max, this.count);
    const out = new Array<T>(n);
    for (let k = 0; k < n; k++) {
      out[k] = this.slots[this.head] as T;
      this.slots[this.head] = undefined;
      this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    }
    this.count -= n;
    return out;
  }
}
