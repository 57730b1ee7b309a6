// The one place a value becomes an HTTP header value, for every transport.
//
// A header value on the wire is visible ASCII plus space and tab (RFC 9110
// field-value); Node throws ERR_INVALID_CHAR in writeHead/setHeader for
// anything else, and Envoy drops or rejects such values. Identity values come
// from token claims and may be any Unicode (CJK names, emoji) or carry CR/LF,
// so they are encoded instead of written as they are:
//
//   every UTF-8 byte outside 0x21–0x7E, every '%', and a space that starts or
//   ends the value (parsers trim those) become %XX, upper-case hex.
//
// This is percent-encoding of the value's UTF-8 bytes, so `decodeURIComponent`
// gives back the exact text (a lone UTF-16 surrogate, which no UTF-8 can carry,
// comes back as U+FFFD). A plain ASCII value without '%' — nearly every value
// — is returned as it is, without allocating.

/** True when `value` can be written as a header value unchanged. */
export function isPlainHeaderValue(value: string): boolean {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x25) {
      // An inner space is fine; control characters, '%' and non-ASCII are not.
      if (c !== 0x20 || i === 0 || i === n - 1) return false;
    }
  }
  return true;
}

/** `value` as a header value: unchanged when plain, else percent-encoded UTF-8 (reversible with decodeURIComponent). */
export function headerValue(value: string): string {
  return isPlainHeaderValue(value) ? value : percentEncode(value);
}

function percentEncode(value: string): string {
  const bytes = Buffer.from(value, 'utf8');
  const last = bytes.length - 1;
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const plain = b > 0x20 && b < 0x7f && b !== 0x25;
    if (plain || (b === 0x20 && i !== 0 && i !== last)) out += String.fromCharCode(b);
    else out += HEX[b]!;
  }
  return out;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`);

/** A header name Node and Envoy accept (RFC 9110 token, lower-case as we write them). */
export function isHeaderName(name: string): boolean {
  return name.length > 0 && /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name);
}

/** `headers` with every value through headerValue(): the same object when all are plain (the usual case). */
export function headerValues(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let out: Record<string, string> | undefined;
  for (const name in headers) {
    const value = headers[name]!;
    if (isPlainHeaderValue(value)) continue;
    out ??= { ...headers };
    out[name] = percentEncode(value);
  }
  return out ?? headers;
}
