// From raw bytes or files to a ParsedBundle: OPA's bundle format (policy.wasm,
// data.json / data.yaml at their paths, .manifest, .signatures.json), or a
// plain policy.wasm. Nothing here touches WebAssembly beyond checking magic.
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { checkJsonWithinLimits, checkValueWithinLimits, type DataCount, type DataLimits } from './data-limits.js';
import { checkDataWithinRoots, insertData, type DataTree } from './data-tree.js';
import { cleanPath, DEFAULT_MAX_FILES, isGzip, isTar, isWasm, readTar, readTarGz, type BundleFiles } from './files.js';
import { SIGNATURES_FILE, verifyBundleSignature, type BundleVerifier } from './signature.js';

export interface BundleManifest {
  readonly revision: string;
  readonly roots: readonly string[];
  /** Entrypoints the manifest names for its wasm module, in order. */
  readonly wasmEntrypoints: readonly string[];
}

export interface ParsedBundle {
  readonly wasm: Uint8Array;
  readonly data: DataTree;
  readonly manifest: BundleManifest | undefined;
  /** The manifest's revision, or `sha256:<16 hex>` of the contents when it has none. */
  readonly revision: string;
  /** Set when the bundle's signature was verified: the key id it named, or ''. */
  readonly signedBy: string | undefined;
}

const DATA_FILES = new Set(['data.json', 'data.yaml', 'data.yml']);

/** What a bundle may hold beyond its bytes (policy.bundle.max_files, max_data_entries, max_data_depth). */
export interface BundleContentLimits {
  readonly maxFiles: number;
  readonly data: DataLimits;
}

export const DEFAULT_CONTENT_LIMITS: BundleContentLimits = {
  maxFiles: DEFAULT_MAX_FILES,
  data: { maxEntries: 1_000_000, maxDepth: 64 },
};

/** A .tar.gz bundle or a plain .wasm, told apart by their magic bytes. */
export async function parseBundleBytes(
  bytes: Uint8Array,
  verifier: BundleVerifier | undefined,
  maxBytes: number,
  limits: BundleContentLimits = DEFAULT_CONTENT_LIMITS,
): Promise<ParsedBundle> {
  if (isGzip(bytes)) return parseBundleFiles(await readTarGz(bytes, maxBytes, limits.maxFiles), verifier, limits);
  if (isTar(bytes)) return parseBundleFiles(await readTar(Buffer.from(bytes), limits.maxFiles), verifier, limits);
  if (isWasm(bytes)) {
    if (verifier !== undefined) {
      throw new Error('a plain policy.wasm carries no signature and policy.signing requires one: ship a signed bundle (.tar.gz)');
    }
    return { wasm: bytes, data: {}, manifest: undefined, revision: contentRevision(new Map([['policy.wasm', bytes]])), signedBy: undefined };
  }
  throw new Error('not a bundle: expected a .tar.gz OPA bundle or a WebAssembly module');
}

export async function parseBundleFiles(
  files: BundleFiles,
  verifier: BundleVerifier | undefined,
  limits: BundleContentLimits = DEFAULT_CONTENT_LIMITS,
): Promise<ParsedBundle> {
  // Before anything parses data (the signature check hashes it in canonical form, too).
  const count: DataCount = { entries: 0 };
  for (const [path, bytes] of files) if (path === 'data.json' || path.endsWith('/data.json')) checkJsonWithinLimits(bytes, path, limits.data, count);
  const signedBy = await verifyBundleSignature(files, verifier);
  const manifestBytes = files.get('.manifest');
  const manifest = manifestBytes === undefined ? undefined : parseManifest(manifestBytes);

  const wasmPaths = [...files.keys()].filter((p) => p === 'policy.wasm' || p.endsWith('/policy.wasm'));
  if (wasmPaths.length === 0) throw new Error('bundle holds no policy.wasm (build it with `opa build -t wasm`)');
  if (wasmPaths.length > 1) throw new Error(`bundle holds several wasm modules (${wasmPaths.join(', ')}); one is supported`);
  const wasm = files.get(wasmPaths[0]!)!;
  if (!isWasm(wasm)) throw new Error(`${wasmPaths[0]} is not a WebAssembly module`);

  const data: DataTree = {};
  for (const [path, bytes] of files) {
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    if (!DATA_FILES.has(base)) continue;
    const dir = slash < 0 ? [] : path.slice(0, slash).split('/');
    const value = parseDataFile(path, bytes);
    if (!path.endsWith('.json')) checkValueWithinLimits(value, path, limits.data, count);
    insertData(data, dir, value, path);
  }
  if (manifest !== undefined) checkDataWithinRoots(data, manifest.roots);

  const revision = manifest?.revision ? manifest.revision : contentRevision(files);
  return { wasm, data, manifest, revision, signedBy };
}

function parseDataFile(path: string, bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes).toString('utf8');
  try {
    return path.endsWith('.json') ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseManifest(bytes: Uint8Array): BundleManifest {
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new Error(`.manifest: ${(err as Error).message}`, { cause: err });
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new Error('.manifest: must be a JSON object');
  const o = m as { revision?: unknown; roots?: unknown; wasm?: unknown };
  if (o.revision !== undefined && typeof o.revision !== 'string') throw new Error('.manifest: revision must be a string');
  let roots: string[] = [''];
  if (o.roots !== undefined) {
    if (!Array.isArray(o.roots) || !o.roots.every((r) => typeof r === 'string')) {
      throw new Error('.manifest: roots must be a list of strings');
    }
    roots = (o.roots as string[]).map((r) => r.replace(/^\/+|\/+$/g, ''));
  }
  const wasmEntrypoints: string[] = [];
  if (o.wasm !== undefined) {
    if (!Array.isArray(o.wasm)) throw new Error('.manifest: wasm must be a list');
    for (const w of o.wasm as unknown[]) {
      const e = w as { entrypoint?: unknown; module?: unknown } | null;
      if (e === null || typeof e !== 'object' || typeof e.entrypoint !== 'string') {
        throw new Error('.manifest: each wasm entry needs an entrypoint');
      }
      if (typeof e.module === 'string') cleanPath(e.module);
      wasmEntrypoints.push(e.entrypoint);
    }
  }
  return { revision: o.revision ?? '', roots, wasmEntrypoints };
}

/** A stable revision for bundles without one: a digest of every file but the signature. */
function contentRevision(files: BundleFiles): string {
  const h = createHash('sha256');
  for (const path of [...files.keys()].sort()) {
    if (path === SIGNATURES_FILE) continue;
    h.update(path).update('\0').update(files.get(path)!).update('\0');
  }
  return `sha256:${h.digest('hex').slice(0, 16)}`;
}
