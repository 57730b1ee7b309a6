// File digests as OPA's bundle signing defines them. Plain files are hashed as
// bytes. Structured files (data.json, data.yaml, .manifest) are hashed over a
// canonical form so whitespace and key order do not matter: an object is "{",
// its keys in sorted order each as `"key":<value>` separated by ",", then "}";
// a list is "[", its items separated by ",", then "]"; a scalar is its JSON
// encoding. Numbers keep their literal text (OPA decodes with json.Number), so
// this file carries its own small JSON reader instead of JSON.parse.
import { createHash, type Hash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';

/** OPA's hashing algorithm names → node's; MD5 and SHA-1 are refused as too weak to sign with. */
const ALGORITHMS: Readonly<Record<string, string>> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

const STRUCTURED = new Set(['data.json', 'data.yaml', '.manifest']);

/** True for the files OPA hashes in canonical form (by base name). */
export function isStructuredDoc(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return STRUCTURED.has(base);
}

export function digestFile(path: string, bytes: Uint8Array, algorithm: string): string {
  const nodeAlg = ALGORITHMS[algorithm];
  if (nodeAlg === undefined) throw new Error(`${path}: unsupported hashing algorithm "${algorithm}"`);
  const h = createHash(nodeAlg);
  if (!isStructuredDoc(path)) {
    h.update(bytes);
    return h.digest('hex');
  }
  const text = Buffer.from(bytes).toString('utf8');
  const value = path.endsWith('.yaml') ? fromYaml(text) : new JsonReader(text).document();
  writeCanonical(value, h);
  return h.digest('hex');
}

/** A number as written in the source (`1.50` stays `1.50`). */
class NumberText {
  constructor(readonly text: string) {}
}

type Canonical = null | boolean | string | NumberText | Canonical[] | Map<string, Canonical>;

function writeCanonical(v: Canonical, h: Hash): void {
  if (v instanceof Map) {
    h.update('{');
    const keys = [...v.keys()].sort(compareUtf8);
    keys.forEach((k, i) => {
      if (i > 0) h.update(',');
      h.update(encodeString(k));
      h.update(':');
      writeCanonical(v.get(k)!, h);
    });
    h.update('}');
  } else if (Array.isArray(v)) {
    h.update('[');
    v.forEach((item, i) => {
      if (i > 0) h.update(',');
      writeCanonical(item, h);
    });
    h.update(']');
  } else if (v instanceof NumberText) {
    h.update(v.text);
  } else if (typeof v === 'string') {
    h.update(encodeString(v));
  } else {
    h.update(v === null ? 'null' : String(v));
  }
}

// Go sorts map keys by byte order of their UTF-8 encoding.
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// Go's encoder (HTML escaping off) matches JSON.stringify except that it also
// escapes U+2028 and U+2029.
function encodeString(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function fromYaml(text: string): Canonical {
  return toCanonical(parseYaml(text) as unknown);
}

function toCanonical(v: unknown): Canonical {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return new NumberText(JSON.stringify(v));
  if (Array.isArray(v)) return v.map(toCanonical);
  if (typeof v === 'object') {
    const m = new Map<string, Canonical>();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) m.set(k, toCanonical(x));
    return m;
  }
  throw new Error(`cannot hash a ${typeof v}`);
}

/** A strict JSON reader (RFC 8259) that keeps number literals as text; duplicate keys: the last wins, as in Go. */
class JsonReader {
  private i = 0;
  constructor(private readonly s: string) {}

  document(): Canonical {
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('trailing characters');
    return v;
  }

  private value(depth: number): Canonical {
    if (depth > 512) this.fail('nested too deeply');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === 't') return this.word('true', true);
    if (c === 'f') return this.word('false', false);
    if (c === 'n') return this.word('null', null);
    return this.number();
  }

  private object(depth: number): Map<string, Canonical> {
    const m = new Map<string, Canonical>();
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return m;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a key');
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':'");
      this.i++;
      m.set(k, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return m;
      if (c !== ',') this.fail("expected ',' or '}'");
    }
  }

  private array(depth: number): Canonical[] {
    const out: Canonical[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    const start = this.i;
    this.i++;
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in string');
      this.i += c === 0x5c ? 2 : 1;
    }
    this.i++;
    return JSON.parse(this.s.slice(start, this.i)) as string;
  }

  private word<T extends Canonical>(w: string, v: T): T {
    if (!this.s.startsWith(w, this.i)) this.fail('unexpected token');
    this.i += w.length;
    return v;
  }

  private number(): NumberText {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (m === null) this.fail('unexpected token');
    this.i += m[0].length;
    return new NumberText(m[0]);
  }

  private ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.i++;
    }
  }

  private fail(msg: string): never {
    throw new Error(`invalid JSON at offset ${this.i}: ${msg}`);
  }
}
