// The chain head file (audit-head.json), replaced atomically: the new head
// is written to a temporary file that is then renamed over the old one, so a
// crash leaves the old head or the new one, never a torn one.
//
// It is written every fsync interval, from the decision thread's event loop.
// On this machine's ext4 what a head write costs that thread is mostly its
// wake-ups: every filesystem call handed to libuv's pool wakes an idle event
// loop once more when it completes (~85 µs of CPU each here, measured in
// bench/RESULTS.md, session 5), and writeFile + rename is four of them
// (open, write, close, rename). The temporary file is therefore opened
// ahead, right after the previous rename: a head write is then a ~150-byte
// write(2) and a close(2) on an open descriptor (like an append; creating or
// renaming a file is what can stall for milliseconds, and those stay in the
// pool) and one rename — two pool calls per head instead of four.
import { closeSync, open, rename, unlink, writeSync } from 'node:fs';
import type { ChainHead } from '../hash-chain.js';

function openForWrite(path: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, 'w', (err, fd) => (err ? reject(err) : resolve(fd))));
}

function renameFile(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => rename(from, to, (err) => (err ? reject(err) : resolve())));
}

export class HeadFile {
  private readonly tmp: string;
  /** The next head's temporary file, open (or being opened) ahead of its write. */
  private next: Promise<number> | undefined;
  /** Head writes run one after another: they share the temporary file. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly path: string, private readonly onError: (err: unknown) => void) {
    this.tmp = `${path}.tmp`;
  }

  /** Replaces the head file with `head`; resolves once renamed (or failed: onError was told). Never rejects. */
  write(head: ChainHead): Promise<void> {
    const text = JSON.stringify(head) + '\n';
    this.chain = this.chain.then(() => this.replace(text));
    return this.chain;
  }

  /** After the last write: no temporary file is opened ahead any more, and the one that was is removed. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    const next = this.next;
    this.next = undefined;
    if (next === undefined) return;
    try {
      closeSync(await next);
      await new Promise<void>((resolve) => unlink(this.tmp, () => resolve()));
    } catch {
      // it was never opened: nothing to remove
    }
  }

  private async replace(text: string): Promise<void> {
    // Opened ahead when the last head was renamed; opened now when that failed (the fault may be gone).
    const ahead = this.next;
    this.next = undefined;
    try {
      const fd = ahead === undefined ? await openForWrite(this.tmp) : await ahead.catch(() => openForWrite(this.tmp));
      try {
        // ASCII (a file name, numbers, hex): as many bytes as characters.
        if (writeSync(fd, text) !== text.length) throw new Error('a short write of the chain head');
      } finally {
        closeSync(fd);
      }
      await renameFile(this.tmp, this.path);
    } catch (err) {
      this.onError(err);
    }
    if (!this.closed) {
      const opening = openForWrite(this.tmp);
      opening.catch(() => undefined); // the next head opens it again
      this.next = opening;
    }
  }
}
