// A fast path for the tuple files people actually write: a top-level YAML list
// whose items are simple `user/relation/object` maps, in flow form
// (`- { user: "user:a", relation: viewer, object: "doc:1" }`) or block form.
// The general YAML parser costs ~50 µs per item (5 s for 100k tuples, all of
// it blocking the event loop); this costs ~1 µs. Anything outside the subset
// (conditions, anchors, escapes, odd scalars) returns undefined and the caller
// falls back to the full parser, so results never differ.

type Raw = Record<string, string>;

const KEYS = new Set(['user', 'relation', 'object']);
// Plain scalars YAML would type as something other than a string.
const NON_STRING = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?(?:\.\d+|\d[\d_]*(?:\.\d*)?)(?:[eE][-+]?\d+)?|0x[0-9a-fA-F_]+|0o[0-7_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const PLAIN = /^[^\s'"{}[\]&*!|>%@`#,][^,{}[\]]*$/;

function scalar(token: string): string | undefined {
  const s = token.trim();
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) {
    const inner = s.slice(1, -1);
    return /["\\]/.test(inner) ? undefined : inner;
  }
  if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) {
    const inner = s.slice(1, -1);
    return inner.includes("'") ? undefined : inner;
  }
  if (!PLAIN.test(s) || s.includes(': ') || s.includes(' #') || s.endsWith(':') || NON_STRING.test(s)) return undefined;
  return s;
}

const FLOW_ITEM = /^-\s*\{(.*)\}\s*$/;
const PAIR = /^\s*(user|relation|object)\s*:\s+(.+?)\s*$/;
const BLOCK_FIRST = /^-\s+(user|relation|object)\s*:\s+(.+?)\s*$/;
const BLOCK_NEXT = /^\s{2}(user|relation|object)\s*:\s+(.+?)\s*$/;

function addPair(item: Raw, key: string, value: string): boolean {
  if (!KEYS.has(key) || key in item) return false;
  const v = scalar(value);
  if (v === undefined) return false;
  item[key] = v;
  return true;
}

export function parseSimpleTupleYaml(text: string): Raw[] | undefined {
  const out: Raw[] = [];
  let current: Raw | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed === '---') {
      if (out.length > 0 || current) return undefined;
      continue;
    }
    let m = FLOW_ITEM.exec(line);
    if (m) {
      const item: Raw = {};
      for (const part of m[1]!.split(',')) {
        if (part.trim() === '') continue;
        const p = PAIR.exec(part);
        if (!p || !addPair(item, p[1]!, p[2]!)) return undefined;
      }
      current = undefined;
      out.push(item);
      continue;
    }
    m = BLOCK_FIRST.exec(line);
    if (m) {
      current = {};
      if (!addPair(current, m[1]!, m[2]!)) return undefined;
      out.push(current);
      continue;
    }
    m = BLOCK_NEXT.exec(line);
    if (m && current) {
      if (!addPair(current, m[1]!, m[2]!)) return undefined;
      continue;
    }
    return undefined;
  }
  return out.length > 0 ? out : undefined;
}
