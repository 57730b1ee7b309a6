// All stores served by one embedded engine (the HTTP API's /stores).
import { FgaCheckError } from '../model/errors.js';
import { EmbeddedStore } from './store.js';
import type { StoreOptions } from './store.js';

export class StoreRegistry {
  private readonly stores = new Map<string, EmbeddedStore>();

  create(opts: StoreOptions = {}): EmbeddedStore {
    const store = new EmbeddedStore(opts);
    this.stores.set(store.id, store);
    return store;
  }

  add(store: EmbeddedStore): EmbeddedStore {
    this.stores.set(store.id, store);
    return store;
  }

  get(id: string): EmbeddedStore {
    const s = this.stores.get(id);
    if (!s) throw new FgaCheckError('store_id_not_found', `store '${id}' not found`);
    return s;
  }

  delete(id: string): void {
    this.get(id);
    this.stores.delete(id);
  }

  /** Oldest first (ids are monotonic ULIDs). */
  list(): EmbeddedStore[] {
    return [...this.stores.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
