// Fixed windows aligned to UTC: the second, the minute, the day (00:00 UTC)
// and the calendar month (the 1st, 00:00 UTC). Every counter belongs to one
// window; its key names the window's start, so a new window is a new counter
// and an old one simply expires.

export type WindowKind = 'second' | 'minute' | 'day' | 'month';

export interface Window {
  readonly kind: WindowKind;
  /** Epoch milliseconds, inclusive. */
  readonly start: number;
  /** Epoch milliseconds, exclusive: the reset time. */
  readonly end: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** The epoch has no leap seconds: every UTC day is exactly this long. */
const DAY = 24 * 60 * MINUTE;

export function windowAt(kind: WindowKind, now: number): Window {
  switch (kind) {
    case 'second':
      return fixed(kind, now, SECOND);
    case 'minute':
      return fixed(kind, now, MINUTE);
    case 'day':
      return fixed(kind, now, DAY);
    case 'month': {
      const d = new Date(now);
      const y = d.getUTCFullYear();
      const m = d.getUTCMonth();
      return { kind, start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    }
  }
}

function fixed(kind: WindowKind, now: number, size: number): Window {
  const start = Math.floor(now / size) * size;
  return { kind, start, end: start + size };
}

/** Whole seconds until the window resets, as `Retry-After` wants them (at least 1). */
export function retryAfterSeconds(window: Window, now: number): number {
  return Math.max(1, Math.ceil((window.end - now) / SECOND));
}

/**
 * Remembers the current window of each kind, so the hot path computes a
 * calendar month once per month rather than once per request.
 */
export class WindowCache {
  private readonly current = new Map<WindowKind, Window>();

  at(kind: WindowKind, now: number): Window {
    const w = this.current.get(kind);
    if (w !== undefined && now >= w.start && now < w.end) return w;
    const next = windowAt(kind, now);
    this.current.set(kind, next);
    return next;
  }
}
