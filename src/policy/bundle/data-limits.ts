// Limits on what bundle data parses into, checked before it is parsed: a
// few bytes can stand for a great deal of memory (62 KB of gzip → 60 MiB of
// `[],` → 20 M arrays, 3.2 GB once parsed), so `max_bytes` alone bounds
// nothing useful. JSON is counted by a byte scan that builds nothing; YAML
// (whose aliases the yaml package already caps) is counted over the parsed
// tree, inside the parse worker's memory cap. An entry is an array element
// or an object member; the count is over all data files of the bundle.

export interface DataLimits {
  /** Most entries over all data files (policy.bundle.max_data_entries). */
  readonly maxEntries: number;
  /** Deepest nesting of arrays and objects (policy.bundle.max_data_depth). */
  readonly maxDepth: number;
}

export type BundleLimit = 'data_entries' | 'data_depth' | 'files' | 'bytes' | 'parse_memory' | 'parse_timeout';

/** A bundle refused by one of its limits; `limit` labels authz_policy_bundle_limit_refusals_total. */
export class BundleLimitError extends Error {
  override readonly name = 'BundleLimitError';
  constructor(
    readonly limit: BundleLimit,
    message: string,
  ) {
    super(message);
  }
}

/** Running totals over the files of one bundle. */
export interface DataCount {
  entries: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Scans JSON text (not validating it: JSON.parse does that next) and throws BundleLimitError past a limit. */
export function checkJsonWithinLimits(bytes: Uint8Array, path: string, limits: DataLimits, count: DataCount): void {
  let depth = 0;
  let justOpened = false;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (isSpace(c)) continue;
    if (justOpened) {
      justOpened = false;
      if (c !== CLOSE_ARRAY && c !== CLOSE_OBJECT) addEntry(count, limits, path);
    }
    if (c === QUOTE) {
      for (i++; i < n; i++) {
        const d = bytes[i]!;
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > limits.maxDepth) throw depthError(path, limits);
      justOpened = true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    } else if (c === COMMA && depth > 0) {
      addEntry(count, limits, path);
    }
  }
}

/** The same limits over an already parsed value (YAML), without recursion. */
export function checkValueWithinLimits(value: unknown, path: string, limits: DataLimits, count: DataCount): void {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > limits.maxDepth) throw depthError(path, limits);
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) {
      addEntry(count, limits, path);
      stack.push({ v: child, depth: depth + 1 });
    }
  }
}

function addEntry(count: DataCount, limits: DataLimits, path: string): void {
  if (++count.entries > limits.maxEntries) {
    throw new BundleLimitError('data_entries',
      `bundle data holds more than max_data_entries (${limits.maxEntries}) array elements and object members (at ${path})`);
  }
}

function depthError(path: string, limits: DataLimits): BundleLimitError {
  return new BundleLimitError('data_depth', `${path} nests deeper than max_data_depth (${limits.maxDepth})`);
}
