// Walks an unpacked bundle directory within caps: at most `maxEntries`
// directory entries, `maxBytes` of files, 32 levels. It follows no directory
// links — a link such as `a -> .` would otherwise make the walk endless — and
// reads a file link only when its target lies inside the bundle root, which
// is how Kubernetes mounts a ConfigMap (`policy.wasm -> ..data/policy.wasm`).
// Names starting with `..` (Kubernetes' own bookkeeping) are skipped, so no
// file is seen twice.
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { BundleLimitError } from './data-limits.js';

export const MAX_DEPTH = 32;

export interface DirWalkLimits {
  readonly maxBytes: number;
  readonly maxEntries: number;
}

export interface WalkedFile {
  /** Bundle-relative path with '/' separators. */
  readonly rel: string;
  /** What to read: the file, or a link's target inside the root. */
  readonly abs: string;
  readonly size: number;
  /** size:mtime:inode of the file read, for change detection. */
  readonly stamp: string;
}

export interface DirWalk {
  readonly files: readonly WalkedFile[];
  /** Every directory visited (root first): what a watcher watches. */
  readonly dirs: readonly string[];
  /** Links not followed (directory links), bundle-relative, for one log line. */
  readonly skippedLinks: readonly string[];
}

export async function walkBundleDir(root: string, limits: DirWalkLimits): Promise<DirWalk> {
  const realRoot = await realpath(root);
  const files: WalkedFile[] = [];
  const dirs: string[] = [];
  const skippedLinks: string[] = [];
  let entries = 0;
  let bytes = 0;
  const walk = async (abs: string, rel: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) throw new Error(`bundle directory nests deeper than ${MAX_DEPTH} levels at ${rel}`);
    dirs.push(abs);
    for (const name of (await readdir(abs)).sort()) {
      if (name.startsWith('..')) continue;
      entries++;
      if (entries > limits.maxEntries) throw new BundleLimitError('files', `bundle directory holds more than max_files (${limits.maxEntries}) entries`);
      const childAbs = join(abs, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(childAbs);
      let target = childAbs;
      let tst = st;
      if (st.isSymbolicLink()) {
        target = await realpath(childAbs).catch(() => '');
        tst = target === '' ? st : await stat(target);
        if (target === '' || !tst.isFile()) {
          skippedLinks.push(childRel);
          continue;
        }
        if (target !== realRoot && !target.startsWith(realRoot + sep)) {
          throw new Error(`bundle file ${childRel} links outside the bundle directory`);
        }
      }
      if (tst.isDirectory()) await walk(childAbs, childRel, depth + 1);
      else if (tst.isFile()) {
        bytes += tst.size;
        if (bytes > limits.maxBytes) throw new BundleLimitError('bytes', `bundle directory holds more than max_bytes (${limits.maxBytes})`);
        files.push({ rel: childRel, abs: target, size: tst.size, stamp: `${tst.size}:${tst.mtimeMs}:${tst.ino}` });
      }
    }
  };
  await walk(root, '', 0);
  return { files, dirs, skippedLinks };
}

/** A change detector over a walk: names, sizes, modification times and inodes. */
export function fingerprintOf(walk: DirWalk): string {
  return walk.files.map((f) => `${f.rel}:${f.stamp}`).join('|');
}
