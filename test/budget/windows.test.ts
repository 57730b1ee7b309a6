import t from 'tap';
import { retryAfterSeconds, windowAt, WindowCache } from '../../src/budget/windows.js';
import { formatMicro, parseCostMicro, toMicro } from '../../src/budget/units.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

t.test('UTC day windows end at midnight, across months and years', async (t) => {
  const w = windowAt('day', at('2025-01-31T23:59:59.500Z'));
  t.equal(iso(w.start), '2025-01-31T00:00:00.000Z');
  t.equal(iso(w.end), '2025-02-01T00:00:00.000Z');
  t.equal(retryAfterSeconds(w, at('2025-01-31T23:59:59.500Z')), 1, 'half a second rounds up to one');
  t.equal(retryAfterSeconds(w, at('2025-01-31T12:00:00Z')), 12 * 3600);
  const ny = windowAt('day', at('2025-12-31T18:30:00Z'));
  t.equal(iso(ny.end), '2026-01-01T00:00:00.000Z');
  t.equal(iso(windowAt('day', at('2025-02-01T00:00:00Z')).start), '2025-02-01T00:00:00.000Z', 'midnight opens the new day');
});

t.test('calendar months: 28, 29, 30 and 31 days, and the year boundary', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['2025-01-15T10:00:00Z', '2025-01-01T00:00:00.000Z', '2025-02-01T00:00:00.000Z'],
    ['2025-02-28T23:59:59.999Z', '2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z'],
    ['2024-02-29T12:00:00Z', '2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z'],
    ['2025-04-30T23:00:00Z', '2025-04-01T00:00:00.000Z', '2025-05-01T00:00:00.000Z'],
    ['2025-12-31T23:59:00Z', '2025-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'],
  ];
  for (const [now, start, end] of cases) {
    const w = windowAt('month', at(now));
    t.same([iso(w.start), iso(w.end)], [start, end], now);
  }
  t.equal(retryAfterSeconds(windowAt('month', at('2025-12-31T23:59:00Z')), at('2025-12-31T23:59:00Z')), 60);
  t.equal(retryAfterSeconds(windowAt('month', at('2024-02-28T00:00:00Z')), at('2024-02-28T00:00:00Z')), 2 * 86400,
    'leap February has a 29th');
});

t.test('seconds and minutes reset at the next whole second / minute', async (t) => {
  const now = at('2025-03-10T08:15:42.250Z');
  t.equal(retryAfterSeconds(windowAt('second', now), now), 1);
  t.equal(iso(windowAt('minute', now).end), '2025-03-10T08:16:00.000Z');
  t.equal(retryAfterSeconds(windowAt('minute', now), now), 18);
});

t.test('the window cache follows the clock forwards and backwards', async (t) => {
  const cache = new WindowCache();
  const a = cache.at('month', at('2025-01-31T23:59:59Z'));
  t.equal(cache.at('month', at('2025-01-02T00:00:00Z')), a, 'same month: the same window object');
  t.equal(iso(cache.at('month', at('2025-02-01T00:00:00Z')).start), '2025-02-01T00:00:00.000Z');
  t.equal(iso(cache.at('month', at('2025-01-20T00:00:00Z')).start), '2025-01-01T00:00:00.000Z');
});

t.test('cost headers parse exactly or not at all', async (t) => {
  t.equal(parseCostMicro('0.05'), 50_000);
  t.equal(parseCostMicro('3'), 3_000_000);
  t.equal(parseCostMicro(' 1.5 '), 1_500_000);
  t.equal(parseCostMicro('0.0000001'), 1, 'digits past micro-units round up, never down to free');
  t.equal(parseCostMicro('0.0000000'), 0);
  for (const bad of ['', '-1', '-0.5', 'NaN', 'nan', 'Infinity', '1e3', '0x10', 'abc', '1,2', '1.', '.5', '+1', '99999999999999999']) {
    t.equal(parseCostMicro(bad), undefined, JSON.stringify(bad));
  }
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += toMicro(0.1);
  t.equal(sum, toMicro(1), 'ten charges of 0.1 make exactly 1');
  t.equal(formatMicro(toMicro(0.35)), '0.35');
  // The header form of a remaining cost budget is what String(units) would print, whatever the value.
  const samples = [0, 1, 10, 100_000, 999_999, 1_000_000, 1_500_000, 999_999_999_000, 999_999_999_001, 123_456_789_012,
    999_999_999_999_999, 1e15, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1e27, -1_500_000];
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 48271) % 2147483647;
    samples.push(seed * (i % 7 === 0 ? 1 : 1 + (i % 5)) * (i % 3 === 0 ? 1000 : 1));
  }
  const wrong = samples.filter((m) => formatMicro(m) !== String(m / 1e6));
  t.same(wrong, [], 'formatMicro(m) === String(m / 1e6) for every sample');
});
