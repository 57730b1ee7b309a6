// Tells the bundle manager whether a bundle directory may have changed since
// it was last walked, so the periodic check walks it only then: every
// directory the walk visited is watched (inotify reports a change to any
// entry of a watched directory, renames and link swaps included). Events can
// be missed (a directory replaced between walk and watch, a filesystem
// without notifications), so a full walk still happens every
// FULL_WALK_EVERY checks, and a directory that cannot be watched is treated
// as always changed.
import { watch, type FSWatcher } from 'node:fs';

export const FULL_WALK_EVERY = 30;

export class DirChangeWatch {
  private watchers: FSWatcher[] = [];
  private dirty = true;
  private quietChecks = 0;

  /** Watches these directories from now on; called right after a walk. */
  watch(dirs: readonly string[]): void {
    this.closeWatchers();
    this.dirty = false;
    this.quietChecks = 0;
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => (this.dirty = true));
        w.on('error', () => (this.dirty = true));
        this.watchers.push(w);
      } catch {
        this.dirty = true;
      }
    }
  }

  /** True when a walk is due: something changed, or it has been quiet for FULL_WALK_EVERY checks. */
  shouldWalk(): boolean {
    if (this.dirty) return true;
    return ++this.quietChecks >= FULL_WALK_EVERY;
  }

  close(): void {
    this.closeWatchers();
  }

  private closeWatchers(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
