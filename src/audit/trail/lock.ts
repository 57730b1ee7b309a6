// One writer per trail directory. Two sidecars appending to the same trail
// would interleave two chains; the second one must refuse to start instead.
// The lock is a file created exclusively, holding the owner's pid and host;
// a lock left by a process that is gone (SIGKILL, OOM kill) is taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'audit.lock';

export class TrailLockedError extends Error {
  override readonly name = 'TrailLockedError';
}

/** Directories locked by this process (a pid check cannot tell two owners in one process apart). */
const heldHere = new Set<string>();

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string') return { pid: o.pid, host: o.host };
  } catch {
    // unreadable: treated as stale (a crash while writing it)
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock or throws TrailLockedError naming the owner; returns the release function. */
export function lockTrailDir(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  if (heldHere.has(path)) throw new TrailLockedError(`already open in this process (${dir})`);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }) + '\n');
      } finally {
        closeSync(fd);
      }
      heldHere.add(path);
      return () => {
        heldHere.delete(path);
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const owner = readOwner(path);
    // Our own pid in a lock we do not hold: a previous incarnation with the same
    // pid (containers restart as pid 1), so it is stale.
    if (owner !== undefined && owner.pid !== process.pid && (owner.host !== hostname() || alive(owner.pid))) {
      throw new TrailLockedError(`in use by pid ${owner.pid} on ${owner.host} (${LOCK_FILE}); `
        + 'two sidecars must not write one trail');
    }
    unlinkSync(path);
  }
}
