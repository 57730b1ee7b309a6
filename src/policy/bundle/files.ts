// A bundle as a map of its files (path relative to the bundle root, '/'
// separators, no leading slash) read from a .tar.gz or a directory, with a
// size cap against gzip bombs and no path that could escape the root.
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { BundleLimitError } from './data-limits.js';
import { walkBundleDir } from './dir-walk.js';

/** Default cap on the entries of a bundle directory (policy.bundle.max_files). */
export const DEFAULT_MAX_FILES = 10_000;

export type BundleFiles = Map<string, Uint8Array>;

const gunzipAsync = promisify(gunzip);

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** "\0asm": the WebAssembly binary magic. */
export function isWasm(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x00 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;
}

/** Bundle-relative path, or an Error for one that is absolute-escaping, empty or holds '..'. */
export function cleanPath(raw: string): string {
  const parts = raw.replaceAll('\\', '/').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) throw new Error(`bundle path "${raw}" is empty`);
  if (parts.includes('..')) throw new Error(`bundle path "${raw}" leaves the bundle root`);
  return parts.join('/');
}

export async function readTarGz(gz: Uint8Array, maxBytes: number, maxEntries = DEFAULT_MAX_FILES): Promise<BundleFiles> {
  let tar: Buffer;
  try {
    tar = await gunzipAsync(gz, { maxOutputLength: maxBytes });
  } catch (err) {
    const tooBig = err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    if (tooBig) throw new BundleLimitError('bytes', `bundle unpacks to more than max_bytes (${maxBytes})`);
    throw new Error(`bundle is not valid gzip: ${(err as Error).message}`, { cause: err });
  }
  return readTar(tar, maxEntries);
}

/** A POSIX (ustar) tar archive: what a gzip bundle becomes when a server's Content-Encoding made fetch unzip it. */
export function isTar(b: Uint8Array): boolean {
  return b.length >= 263 && Buffer.from(b.subarray(257, 262)).toString('latin1') === 'ustar';
}

export function readTar(tar: Buffer, maxEntries = DEFAULT_MAX_FILES): Promise<BundleFiles> {
  return new Promise<BundleFiles>((resolve, reject) => {
    const files: BundleFiles = new Map();
    let failed: Error | undefined;
    let entries = 0;
    const fail = (err: Error): void => {
      failed ??= err;
    };
    const parser = new Parser({ strict: true });
    parser.on('entry', (entry: ReadEntry) => {
      if (++entries > maxEntries) {
        fail(new BundleLimitError('files', `bundle holds more than max_files (${maxEntries}) entries`));
        entry.resume();
        return;
      }
      if (entry.type === 'Directory') {
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
        fail(new Error(`bundle entry ${entry.path} is a ${entry.type}; only regular files are allowed`));
        entry.resume();
        return;
      }
      let path: string;
      try {
        path = cleanPath(entry.path);
      } catch (err) {
        fail(err as Error);
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        if (files.has(path)) fail(new Error(`bundle holds ${path} twice`));
        files.set(path, Buffer.concat(chunks));
      });
    });
    parser.on('warn', (code: string, message: string) => fail(new Error(`bundle is not a valid tar archive: ${code} ${message}`)));
    parser.on('error', (err: Error) => reject(new Error(`bundle is not a valid tar archive: ${err.message}`)));
    parser.on('end', () => (failed ? reject(failed) : resolve(files)));
    parser.end(tar);
  });
}

/** Reads an unpacked bundle directory within its caps (dir-walk.ts says which links are followed). */
export async function readBundleDir(dir: string, maxBytes: number, maxEntries = DEFAULT_MAX_FILES): Promise<BundleFiles> {
  const walk = await walkBundleDir(dir, { maxBytes, maxEntries });
  const files: BundleFiles = new Map();
  for (const f of walk.files) files.set(f.rel, await readFile(f.abs));
  return files;
}
