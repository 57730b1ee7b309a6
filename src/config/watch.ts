// Watches the config file and calls back on change. Editors and Kubernetes
// ConfigMaps replace files (rename, symlink swap) rather than write in place,
// so the directory is watched and the file's content is compared, debounced.
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FileWatch {
  close(): void;
}

export function watchFile(file: string, onChange: () => void, debounceMs = 100): FileWatch {
  let last = readOrEmpty(file);
  let timer: NodeJS.Timeout | undefined;
  const name = basename(file);
  const check = () => {
    timer = undefined;
    const now = readOrEmpty(file);
    if (now === last) return;
    last = now;
    onChange();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(check, debounceMs);
    });
  } catch {
    watcher = undefined;
  }
  // fs.watch misses events on some filesystems; a slow poll backs it up.
  const poll = setInterval(check, 2000);
  poll.unref();
  return {
    close() {
      watcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
    },
  };
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
