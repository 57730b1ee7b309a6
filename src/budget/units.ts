// Money-like budgets are kept as integers of micro-units (1e-6 of a unit), so
// that thousands of 0.05 charges add up exactly, in this process and in Redis
// (whose Lua numbers are doubles and whose INCRBY takes integers).

export const MICRO = 1_000_000;

/** The largest cost (in units) a request may carry; beyond it integers lose precision. */
export const MAX_UNITS = Math.floor(Number.MAX_SAFE_INTEGER / MICRO / 1024);

/** A configured decimal (limit or fixed cost) in micro-units. */
export function toMicro(units: number): number {
  return Math.round(units * MICRO);
}

export function fromMicro(micro: number): number {
  return micro / MICRO;
}

const DECIMAL = /^(\d{1,15})(?:\.(\d{1,30}))?$/;

/**
 * Parses a cost header exactly: a plain non-negative decimal ("0.05", "3").
 * Signs, exponents, hex, spaces, lists ("1,2") and anything beyond MAX_UNITS
 * are refused (undefined). Digits past the sixth decimal round up: a request
 * is never charged less than it declared.
 */
export function parseCostMicro(text: string): number | undefined {
  const m = DECIMAL.exec(text.trim());
  if (m === null) return undefined;
  const whole = Number(m[1]);
  if (whole > MAX_UNITS) return undefined;
  const frac = m[2] ?? '';
  const micro = Number(frac.slice(0, 6).padEnd(6, '0'));
  const roundUp = /[1-9]/.test(frac.slice(6)) ? 1 : 0;
  return whole * MICRO + micro + roundUp;
}

/** Micro-units as a short decimal string for headers and bodies ("0.35", "12"). */
export function formatMicro(micro: number): string {
  return String(Math.round(micro) / MICRO);
}
