// Conversion of JSON context values (google.protobuf.Struct on the wire) into
// CEL values of a condition parameter's declared type, the way OpenFGA does:
// ints accept integral numbers or numeric strings, doubles reject non-finite
// values, timestamps are RFC 3339 strings, durations Go-style strings.
import { isIP } from 'node:net';
import { celUint } from '@bufbuild/cel';
import type { CelInput } from '@bufbuild/cel';
import { create } from '@bufbuild/protobuf';
import { DurationSchema, TimestampSchema } from '@bufbuild/protobuf/wkt';
import type { ConditionParamTypeRef } from './types.js';

export class ParamConversionError extends Error {}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && /^[+-]?\d+$/.test(v.trim())) return BigInt(v.trim());
  if (typeof v === 'bigint') return v;
  return undefined;
}

function toDouble(v: unknown): number | undefined {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim())) n = Number(v.trim());
  return n !== undefined && Number.isFinite(n) ? n : undefined;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(s: string): { seconds: bigint; nanos: number } | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const whole = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]!.toUpperCase()}`);
  if (Number.isNaN(whole)) return undefined;
  const frac = m[7] ? m[7].slice(1).padEnd(9, '0') : '0';
  return { seconds: BigInt(Math.floor(whole / 1000)), nanos: Number(frac) };
}

const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g;
const UNIT_NANOS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration syntax: "300ms", "-1.5h", "2h45m". */
export function parseDuration(s: string): { seconds: bigint; nanos: number } | undefined {
  let rest = s.trim();
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return { seconds: 0n, nanos: 0 };
  if (rest === '' || rest.replace(DURATION_PART, '') !== '') return undefined;
  let nanos = 0;
  for (const m of rest.matchAll(DURATION_PART)) nanos += Number(m[1]) * UNIT_NANOS[m[2]!]!;
  const total = BigInt(Math.round(nanos)) * BigInt(sign);
  return { seconds: total / 1_000_000_000n, nanos: Number(total % 1_000_000_000n) };
}

function fail(type: string, v: unknown): never {
  throw new ParamConversionError(`could not convert ${JSON.stringify(v) ?? String(v)} to ${type}`);
}

function anyValue(v: unknown): CelInput {
  if (Array.isArray(v)) return v.map(anyValue);
  if (v !== null && typeof v === 'object') {
    return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, anyValue(x)]));
  }
  return v as CelInput;
}

export function convertParam(ref: ConditionParamTypeRef, v: unknown): CelInput {
  switch (ref.type_name) {
    case 'TYPE_NAME_ANY':
      return anyValue(v);
    case 'TYPE_NAME_BOOL':
      return typeof v === 'boolean' ? v : fail('bool', v);
    case 'TYPE_NAME_STRING':
      return typeof v === 'string' ? v : fail('string', v);
    case 'TYPE_NAME_INT': {
      const b = toBigInt(v);
      return b !== undefined && b >= INT64_MIN && b <= INT64_MAX ? b : fail('int', v);
    }
    case 'TYPE_NAME_UINT': {
      const b = toBigInt(v);
      return b !== undefined && b >= 0n && b <= UINT64_MAX ? celUint(b) : fail('uint', v);
    }
    case 'TYPE_NAME_DOUBLE': {
      const d = toDouble(v);
      return d !== undefined ? d : fail('double', v);
    }
    case 'TYPE_NAME_TIMESTAMP': {
      const ts = typeof v === 'string' ? parseTimestamp(v) : undefined;
      return ts ? (create(TimestampSchema, ts) as unknown as CelInput) : fail('timestamp', v);
    }
    case 'TYPE_NAME_DURATION': {
      const d = typeof v === 'string' ? parseDuration(v) : undefined;
      return d ? (create(DurationSchema, d) as unknown as CelInput) : fail('duration', v);
    }
    case 'TYPE_NAME_IPADDRESS':
      return typeof v === 'string' && isIP(v) !== 0 ? v : fail('ipaddress', v);
    case 'TYPE_NAME_LIST': {
      const el = ref.generic_types?.[0] ?? { type_name: 'TYPE_NAME_ANY' };
      return Array.isArray(v) ? v.map((x) => convertParam(el, x)) : fail('list', v);
    }
    case 'TYPE_NAME_MAP': {
      const el = ref.generic_types?.[0] ?? { type_name: 'TYPE_NAME_ANY' };
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('map', v);
      return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, convertParam(el, x)]));
    }
    default:
      return fail(String(ref.type_name), v);
  }
}

export const KNOWN_PARAM_TYPES = new Set([
  'TYPE_NAME_ANY',
  'TYPE_NAME_BOOL',
  'TYPE_NAME_STRING',
  'TYPE_NAME_INT',
  'TYPE_NAME_UINT',
  'TYPE_NAME_DOUBLE',
  'TYPE_NAME_TIMESTAMP',
  'TYPE_NAME_DURATION',
  'TYPE_NAME_IPADDRESS',
  'TYPE_NAME_LIST',
  'TYPE_NAME_MAP',
]);
