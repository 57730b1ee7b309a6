// Reading and repairing the end of an append-only text file without reading
// all of it: the hash chain needs the last line, the spool drops a torn one.
import { open, type FileHandle } from 'node:fs/promises';

const CHUNK = 64 * 1024;

/** Offset just past the last '\n' at or before `size` (0 when there is none). */
export async function endOfLastCompleteLine(fh: FileHandle, size: number): Promise<number> {
  let end = size;
  const buf = Buffer.allocUnsafe(CHUNK);
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl >= 0) return start + nl + 1;
    end = start;
  }
  return 0;
}

/** The last complete line of a file (without its '\n'), or undefined when it has none. */
export async function readLastLine(path: string): Promise<{ line: string | undefined; completeBytes: number; size: number }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const complete = await endOfLastCompleteLine(fh, size);
    if (complete === 0) return { line: undefined, completeBytes: 0, size };
    const start = await endOfLastCompleteLine(fh, complete - 1);
    const len = complete - 1 - start;
    const buf = Buffer.allocUnsafe(len);
    await fh.read(buf, 0, len, start);
    return { line: buf.toString('utf8'), completeBytes: complete, size };
  } finally {
    await fh.close();
  }
}

/** Writes all of `data` (a FileHandle write may be short). */
export async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
