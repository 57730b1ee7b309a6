// The grpc-timeout request header: at most 8 ASCII digits and one unit
// (H hours, M minutes, S seconds, m millis, u micros, n nanos).
const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

const TIMEOUT = /^(\d{1,8})([HMSmun])$/;

/** Milliseconds, or undefined when the header is absent or not a valid timeout (then no client deadline applies). */
export function parseGrpcTimeout(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string') return undefined;
  const m = TIMEOUT.exec(header);
  if (m === null) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
