// A prom-client Counter whose hot increments stay off prom-client's per-call
// path (which validates and hashes the label object on every inc(), ~1 µs a
// decision measured, labelled child or not): each series is a plain cell the
// hot path bumps (`cell.pending++`), added to the Counter when it is
// collected. One per registry and name: a second user of the registry (a hot
// reload's new runtime, a second server) shares the same cells, so nothing
// is counted twice or lost.
import { Counter, type Registry } from 'prom-client';

/** One series' count not yet handed to its Counter. */
export interface CountCell<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  pending: number;
}

const byRegistry = new WeakMap<Registry, Map<string, CellCounter<string>>>();

export class CellCounter<L extends string> {
  readonly counter: Counter<L>;
  private readonly cells = new Map<string, CountCell<L>>();

  /** The registry's counter of that name, made on first use. */
  static on<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): CellCounter<L> {
    let named = byRegistry.get(registry);
    if (named === undefined) byRegistry.set(registry, (named = new Map()));
    let made = named.get(name) as CellCounter<L> | undefined;
    if (made === undefined) {
      made = new CellCounter(registry, name, help, labelNames);
      named.set(name, made as unknown as CellCounter<string>);
    }
    return made;
  }

  private constructor(registry: Registry, name: string, help: string, private readonly labelNames: readonly L[]) {
    this.counter = new Counter({ name, help, labelNames, registers: [registry], collect: () => this.flush() });
  }

  /** The cell of one series; callers on a hot path keep it (or the last one) rather than ask per event. */
  cell(labels: Readonly<Record<L, string>>): CountCell<L> {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let cell = this.cells.get(key);
    if (cell === undefined) this.cells.set(key, (cell = { labels: { ...labels }, pending: 0 }));
    return cell;
  }

  private flush(): void {
    for (const cell of this.cells.values()) {
      if (cell.pending === 0) continue;
      this.counter.inc(cell.labels as Partial<Record<L, string>>, cell.pending);
      cell.pending = 0;
    }
  }
}
