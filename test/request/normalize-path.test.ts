import t from 'tap';
import { normalizePath } from '../../src/request/normalize-path.js';

// [raw, expected normalized path] — what a route matcher will see.
const normalizes: Array<[string, string]> = [
  ['/', '/'],
  ['/api/v1/things/42', '/api/v1/things/42'],
  ['/a/', '/a/'],
  // dot segments, raw and percent-encoded, never above the root
  ['/a/../admin', '/admin'],
  ['/a/./b', '/a/b'],
  ['/%2e%2e/admin', '/admin'],
  ['/%2E%2e/%2e/admin', '/admin'],
  ['/a/%2E/b', '/a/b'],
  ['/a/b/..', '/a/'],
  ['/a/.', '/a/'],
  ['/..', '/'],
  ['/../../etc/passwd', '/etc/passwd'],
  ['/a/b/c/../../d', '/a/d'],
  ['/.hidden/..a/...', '/.hidden/..a/...'],
  // merge_slashes
  ['//admin', '/admin'],
  ['/a///b//', '/a/b/'],
  ['/a//../b', '/a/b'], // dot segments first, then slashes — Envoy's order
  // unreserved characters decoded, other escapes upper-cased and kept
  ['/%41%42', '/AB'],
  ['/a%7e%2D%5f%2e', '/a~-_.'],
  ['/x%3a%3Ay', '/x%3A%3Ay'],
  ['/100%25', '/100%25'],
  ['/%2541', '/%2541'], // no double decoding
  // characters not allowed raw in a path are escaped; sub-delims, ':' and '@' stay
  ['/a b', '/a%20b'],
  ['/a"<>`{}|^', '/a%22%3C%3E%60%7B%7D%7C%5E'],
  ["/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="],
  // UTF-8, escaped or literal, ends up as upper-case escapes
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/café', '/caf%C3%A9'],
  ['/😀', '/%F0%9F%98%80'],
  // a literal backslash is a separator (Envoy/Chromium URL canonicalization)
  ['/a\\..\\admin', '/admin'],
  // query and fragment are not part of the path
  ['/a?x=1', '/a'],
  ['/a/b#frag', '/a/b'],
  ['/a/..#x/..', '/'],
];

const refuses: Array<[string, string]> = [
  ['', 'bad_path'],
  ['admin', 'bad_path'],
  ['*', 'bad_path'],
  ['\\admin', 'bad_path'],
  ['#frag', 'bad_path'],
  ['/a%2fb', 'encoded_slash'],
  ['/a%2Fb', 'encoded_slash'],
  ['/a%5cb', 'encoded_slash'],
  ['/files/a%2F..%2Fadmin', 'encoded_slash'],
  ['/%zz', 'bad_path'],
  ['/x%', 'bad_path'],
  ['/x%4', 'bad_path'],
  ['/a\u0000b', 'bad_path'],
  ['/a\u0001b', 'bad_path'],
  ['/a\tb', 'bad_path'],
  ['/a\r\nb', 'bad_path'],
  ['/a\u007fb', 'bad_path'],
  ['/a%00b', 'bad_path'],
  ['/a%0d%0Ab', 'bad_path'],
  ['/%ff', 'bad_path_encoding'],
  ['/%c3', 'bad_path_encoding'],
  ['/%c3/%a9', 'bad_path_encoding'],
  ['/%c0%af', 'bad_path_encoding'], // overlong '/'
  ['/%ed%a0%80', 'bad_path_encoding'], // UTF-16 surrogate as UTF-8
  ['/%c3é', 'bad_path_encoding'],
  ['/\ud800', 'bad_path_encoding'],
  ['/\udc00x', 'bad_path_encoding'],
];

t.test('normalizes like Envoy with normalize_path + merge_slashes', async (t) => {
  for (const [raw, expected] of normalizes) {
    t.same(normalizePath(raw), { ok: true, path: expected }, JSON.stringify(raw));
  }
});

t.test('refuses ambiguous or invalid paths with a stable reason', async (t) => {
  for (const [raw, reason] of refuses) {
    t.same(normalizePath(raw), { ok: false, reason }, JSON.stringify(raw));
  }
});

t.test('normalizing twice changes nothing', async (t) => {
  for (const [raw] of normalizes) {
    const once = normalizePath(raw);
    if (!once.ok) continue;
    t.same(normalizePath(once.path), once, JSON.stringify(raw));
  }
});

t.test('an already-normal path comes back as the same string', async (t) => {
  const raw = '/api/v1/tenants/acme/projects/p-1_2.x~y';
  const result = normalizePath(raw);
  t.ok(result.ok);
  if (result.ok) t.equal(result.path, raw);
});

t.test('every single byte escape is handled deterministically', async (t) => {
  for (let b = 0; b < 256; b++) {
    const hex = b.toString(16).padStart(2, '0');
    const a = normalizePath(`/x%${hex}y`);
    const b2 = normalizePath(`/x%${hex.toUpperCase()}y`);
    t.same(a, b2, `%${hex} is case-insensitive`);
    if (a.ok) t.same(normalizePath(a.path), a, `%${hex} is stable`);
  }
});
