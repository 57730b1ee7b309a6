// Request path normalization, done the way Envoy's HTTP connection manager does
// it with `normalize_path: true` (RFC 3986 normalization), `merge_slashes: true`
// and `path_with_escaped_slashes_action: REJECT_REQUEST`.
//
// Routing is access control here: the route a path selects decides which checks
// run. If we read a path differently from the service behind us, `/a/../admin`
// could select a lax route here and reach `/admin` upstream. So every path is
// brought into one canonical form before it is matched, and paths whose meaning
// is ambiguous are refused with a stable reason code instead of guessed at.
//
// The canonical form:
// - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded,
//   every other percent-encoding keeps its escape with upper-case hex digits;
// - characters that may not appear raw in a path (space, `"`, `<`, non-ASCII...)
//   are percent-encoded, non-ASCII as their UTF-8 bytes;
// - a literal backslash is a slash (Envoy canonicalizes paths with Chromium's
//   URL library, which treats `\` as a path separator);
// - `.` and `..` segments are removed (never above the root), then runs of
//   slashes are merged — the same order Envoy applies the two options in;
// - a `?query` or `#fragment` is dropped (callers should pass the path alone;
//   a fragment is never sent by a conforming client).
//
// Refused:
// - `bad_path`: not starting with `/`, a control character (raw or %-encoded),
//   or an invalid percent-encoding;
// - `encoded_slash`: `%2F` or `%5C`. Envoy can keep, decode or reject these.
//   Keeping them would let `/files/a%2F..%2Fadmin` pass our matcher as one
//   segment while an upstream that decodes before routing sees `/admin`;
//   decoding them would change what segment boundaries the client meant.
//   Neither reading is safe to authorize, so we reject (REJECT_REQUEST).
// - `bad_path_encoding`: the percent-decoded bytes are not valid UTF-8, or the
//   string holds a lone UTF-16 surrogate.
export type NormalizedPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

const BAD_PATH: NormalizedPath = Object.freeze({ ok: false, reason: 'bad_path' });
const ENCODED_SLASH: NormalizedPath = Object.freeze({ ok: false, reason: 'encoded_slash' });
const BAD_ENCODING: NormalizedPath = Object.freeze({ ok: false, reason: 'bad_path_encoding' });

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;

/** Character classes for ASCII code points. */
const UNRESERVED = 1; // ALPHA DIGIT - . _ ~ : kept raw, decoded when escaped
const PATH_RAW = 2; // sub-delims : @ — legal raw in a path, kept raw, kept escaped when escaped
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-._~]/.test(ch)) CLASS[c] = UNRESERVED;
  else if (/[!$&'()*+,;=:@]/.test(ch)) CLASS[c] = PATH_RAW;
}

const HEX = '0123456789ABCDEF';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Normalize a request path (no query string) the way Envoy does before routing. */
export function normalizePath(raw: string): NormalizedPath {
  if (isAlreadyNormal(raw)) return { ok: true, path: raw };
  return normalizeSlow(raw);
}

/**
 * The common case — `/api/v1/things/42` — needs no work: only unreserved
 * characters and single slashes, and no `.`/`..` segment.
 */
function isAlreadyNormal(raw: string): boolean {
  const n = raw.length;
  if (n === 0 || raw.charCodeAt(0) !== SLASH) return false;
  let segmentStart = 1;
  let dots = 0;
  for (let i = 1; i <= n; i++) {
    const c = i < n ? raw.charCodeAt(i) : SLASH;
    if (c === SLASH) {
      const len = i - segmentStart;
      // `//` (except the implicit end marker after a trailing slash) or a dot segment.
      if ((len === 0 && i < n) || (len > 0 && len === dots && len <= 2)) return false;
      segmentStart = i + 1;
      dots = 0;
    } else if (c >= 128 || CLASS[c] !== UNRESERVED) {
      return false;
    } else if (c === DOT) {
      dots++;
    }
  }
  return true;
}

function normalizeSlow(input: string): NormalizedPath {
  let end = input.length;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i; // '?' or '#'
      break;
    }
  }
  const raw = end === input.length ? input : input.slice(0, end);
  if (raw.length === 0 || raw.charCodeAt(0) !== SLASH) return BAD_PATH;

  // One pass to the canonical escaping; dot segments and slashes are resolved after it.
  let out = '';
  // Literal non-ASCII characters are valid UTF-8 by construction; escaped bytes ≥ 0x80 need a check.
  let escapedHighByte = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === PERCENT) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return BAD_PATH;
      const b = (hi << 4) | lo;
      i += 2;
      if (b === SLASH || b === BACKSLASH) return ENCODED_SLASH;
      if (b < 0x20 || b === 0x7f) return BAD_PATH;
      if (b < 128 && CLASS[b] === UNRESERVED) out += String.fromCharCode(b);
      else out += '%' + HEX[b >> 4]! + HEX[b & 15]!;
      if (b >= 128) escapedHighByte = true;
    } else if (c < 128) {
      if (c < 0x20 || c === 0x7f) return BAD_PATH;
      if (c === BACKSLASH) out += '/';
      else if (CLASS[c] !== 0 || c === SLASH) out += raw[i]!;
      else out += '%' + HEX[c >> 4]! + HEX[c & 15]!;
    } else {
      // A literal non-ASCII character: escape its UTF-8 bytes.
      let cp = c;
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = raw.charCodeAt(i + 1);
        if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return BAD_ENCODING;
        cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
      for (const b of utf8Bytes(cp)) out += '%' + HEX[b >> 4]! + HEX[b & 15]!;
    }
  }
  // `out` now holds only ASCII and well-formed escapes, so decoding it gives the path's bytes.
  if (escapedHighByte && !isUtf8(out)) return BAD_ENCODING;

  return { ok: true, path: mergeSlashes(removeDotSegments(out)) };
}

/** Whether the percent-decoded bytes of a canonically escaped path are valid UTF-8. */
function isUtf8(escaped: string): boolean {
  const bytes = new Uint8Array(escaped.length);
  let n = 0;
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped.charCodeAt(i);
    if (c === PERCENT) {
      bytes[n++] = (hexValue(escaped.charCodeAt(i + 1)) << 4) | hexValue(escaped.charCodeAt(i + 2));
      i += 2;
    } else {
      bytes[n++] = c;
    }
  }
  try {
    utf8.decode(bytes.subarray(0, n));
    return true;
  } catch {
    return false;
  }
}

function utf8Bytes(cp: number): number[] {
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1; // also NaN (past the end)
}

/** RFC 3986 §5.2.4 on an absolute path; `..` at the root stays at the root. */
function removeDotSegments(path: string): string {
  const segments = path.slice(1).split('/');
  const kept: string[] = [];
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') {
      if (s === '..') kept.pop();
      // A trailing dot segment leaves a trailing slash: `/a/b/..` → `/a/`.
      if (i === last) kept.push('');
    } else {
      kept.push(s);
    }
  }
  return '/' + kept.join('/');
}

function mergeSlashes(path: string): string {
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : path;
}
