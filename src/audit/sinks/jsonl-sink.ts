// Daily JSONL files (audit-YYYY-MM-DD.jsonl, UTC) forming one hash chain.
// At start the chain continues from the last line on disk, so restarts and
// day boundaries do not break it. After each batch the chain head is written
// to audit-head.json (atomically), which lets `audit verify` detect a cut tail.
import { mkdir, open, readdir, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.js';
import { readLastLine, writeAll } from '../file-tail.js';
import { AUDIT_FILE_RE, GENESIS_HASH, HEAD_FILE, auditFileName, chainLine, hashLine, type ChainHead } from '../hash-chain.js';

export interface JsonlSinkOptions {
  readonly dir: string;
  readonly fsync: boolean;
  readonly log: Logger;
  /** For tests: the clock that picks the day file. */
  readonly now?: () => Date;
}

export class JsonlSink {
  readonly name = 'jsonl';
  private seq = 0;
  private prevHash = GENESIS_HASH;
  private file: { name: string; fh: FileHandle; size: number; lines: number } | undefined;
  private readonly now: () => Date;

  private constructor(private readonly opts: JsonlSinkOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  static async open(opts: JsonlSinkOptions): Promise<JsonlSink> {
    const sink = new JsonlSink(opts);
    await sink.resume();
    return sink;
  }

  /** Continue the chain from the newest file's last complete line. */
  private async resume(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    const files = (await readdir(this.opts.dir)).filter((n) => AUDIT_FILE_RE.test(n)).sort();
    for (let i = files.length - 1; i >= 0; i--) {
      const path = join(this.opts.dir, files[i] as string);
      const { line, completeBytes, size } = await readLastLine(path);
      if (completeBytes < size) {
        // A crash mid-write left a partial line; it was never acknowledged.
        this.opts.log.warn({ file: files[i], bytes: size - completeBytes }, 'audit jsonl: dropping a torn last line');
        const fh = await open(path, 'r+');
        await fh.truncate(completeBytes).finally(() => fh.close());
      }
      if (line === undefined) continue;
      const seq = (JSON.parse(line) as { seq?: unknown }).seq;
      if (typeof seq !== 'number') throw new Error(`audit jsonl: last line of ${files[i]} has no seq; run audit verify`);
      this.seq = seq;
      this.prevHash = hashLine(line);
      return;
    }
  }

  /** Appends the events (JSON texts) in order; resolves once written (and fsynced when configured). */
  async write(jsons: readonly string[]): Promise<void> {
    const name = auditFileName(this.now());
    const file = await this.fileFor(name);
    let seq = this.seq;
    let prev = this.prevHash;
    let text = '';
    for (const json of jsons) {
      const line = chainLine(json, ++seq, prev);
      prev = hashLine(line);
      text += line + '\n';
    }
    const data = Buffer.from(text, 'utf8');
    try {
      await writeAll(file.fh, data);
      if (this.opts.fsync) await file.fh.datasync();
    } catch (err) {
      // No partial batch stays on disk: the chain state did not advance either.
      await file.fh.truncate(file.size).catch(() => undefined);
      throw err;
    }
    file.size += data.length;
    file.lines += jsons.length;
    this.seq = seq;
    this.prevHash = prev;
    await this.writeHead({ file: name, line: file.lines, seq, hash: prev });
  }

  async close(): Promise<void> {
    await this.file?.fh.close();
    this.file = undefined;
  }

  private async fileFor(name: string): Promise<{ name: string; fh: FileHandle; size: number; lines: number }> {
    if (this.file?.name === name) return this.file;
    await this.file?.fh.close();
    this.file = undefined;
    const path = join(this.opts.dir, name);
    const fh = await open(path, 'a+');
    const { size } = await fh.stat();
    const lines = size === 0 ? 0 : (await fh.readFile()).reduce((n, b) => (b === 0x0a ? n + 1 : n), 0);
    this.file = { name, fh, size, lines };
    return this.file;
  }

  private async writeHead(head: ChainHead): Promise<void> {
    const path = join(this.opts.dir, HEAD_FILE);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify(head) + '\n');
    if (this.opts.fsync) {
      const fh = await open(tmp, 'r');
      await fh.sync().finally(() => fh.close());
    }
    await rename(tmp, path);
  }
}
