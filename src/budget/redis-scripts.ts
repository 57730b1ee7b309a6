// The Lua scripts the Redis backend runs. Each runs atomically in Redis, so a
// check and its charge can never interleave with another sidecar's.
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * A batch of charges, each checked and charged as if it ran alone, one after
 * another: a charge is admitted only if every one of its counters has room
 * after the charges before it, and then charges all of them (or none).
 * Charges of the same shape (same counters, same amounts) come as a group of
 * n: the first `fit` of them are admitted, where `fit` is the most that
 * leave every counter within its limit — exactly what n such charges one by
 * one would do, since once one is refused the ones after it find the same
 * counters and are refused too.
 *
 * KEYS: the distinct counters of the batch.
 * ARGV[1]: a nonce, echoed first in the reply (a reply meant for another
 *   call is then recognised, never taken for this one's).
 * ARGV[2]: the lease fraction (0 when leases are fixed-size units).
 * ARGV[3k .. 3k+2] for counter k: limit, ttl_ms, lease. `lease` > 0 asks for
 *   a lease slice on top, once for the batch if a charge on it was admitted:
 *   a fraction of what is left after the batch (fraction > 0), or up to
 *   `lease` units.
 * Then the number of groups, and for each: its number of charges n, its
 *   number of counters m, then m pairs (counter index k, amount).
 *
 * Reply, all integers: nonce, number of groups; per group: how many of its
 * charges were admitted, the position (1-based, 0 when all were admitted) of
 * the counter that refused the next one, then per counter of the group its
 * value before the group; then per counter k: the slice granted, the
 * counter's value in Redis at the end. When several counters refuse, the one
 * whose window ends last is named: it is the one Retry-After must wait for.
 */
export const CHARGE_LUA = `
local nkeys = #KEYS
local fraction = tonumber(ARGV[2])
local limit, ttl, lease, value, before, admitted = {}, {}, {}, {}, {}, {}
for k = 1, nkeys do
  limit[k] = tonumber(ARGV[3 * k])
  ttl[k] = tonumber(ARGV[3 * k + 1])
  lease[k] = tonumber(ARGV[3 * k + 2])
  local v = tonumber(redis.call('GET', KEYS[k]) or '0')
  value[k] = v
  before[k] = v
end
local p = 3 * nkeys + 3
local ngroups = tonumber(ARGV[p])
p = p + 1
local out = {tonumber(ARGV[1]), ngroups}
for g = 1, ngroups do
  local n = tonumber(ARGV[p])
  local m = tonumber(ARGV[p + 1])
  p = p + 2
  local ks, need = {}, {}
  for i = 1, m do
    local k = tonumber(ARGV[p])
    ks[i] = k
    need[k] = (need[k] or 0) + tonumber(ARGV[p + 1])
    p = p + 2
  end
  local fit = n
  for k, a in pairs(need) do
    local room
    if a > 0 then
      room = math.floor((limit[k] - value[k]) / a)
      if room >= 0 and value[k] + room * a > limit[k] then room = room - 1 end
    elseif value[k] > limit[k] then
      room = 0
    else
      room = fit
    end
    if room < fit then fit = room end
  end
  if fit < 0 then fit = 0 end
  local refused = 0
  if fit < n then
    local refusedTtl = -1
    for i = 1, m do
      local k = ks[i]
      if value[k] + (fit + 1) * need[k] > limit[k] and ttl[k] > refusedTtl then
        refused = i
        refusedTtl = ttl[k]
      end
    end
  end
  out[#out + 1] = fit
  out[#out + 1] = refused
  for i = 1, m do out[#out + 1] = value[ks[i]] end
  if fit > 0 then
    for k, a in pairs(need) do
      value[k] = value[k] + fit * a
      admitted[k] = true
    end
  end
end
for k = 1, nkeys do
  local extra = 0
  if lease[k] > 0 and admitted[k] then
    local spare = limit[k] - value[k]
    if fraction > 0 then extra = math.floor(spare * fraction) else extra = math.min(lease[k], spare) end
    if extra < 0 then extra = 0 end
  end
  local total = value[k] - before[k] + extra
  local v = value[k] + extra
  if total > 0 then
    v = redis.call('INCRBY', KEYS[k], total)
    if v == total then redis.call('PEXPIRE', KEYS[k], ttl[k]) end
  end
  out[#out + 1] = extra
  out[#out + 1] = v
end
return out
`;

/**
 * Give back unused lease units. A counter that no longer exists (its window
 * ended, or an admin reset it) is left alone, and none goes below zero.
 * KEYS[i]: counter; ARGV[i]: units to give back.
 */
export const RETURN_LUA = `
for i = 1, #KEYS do
  local u = tonumber(redis.call('GET', KEYS[i]) or '0')
  if u > 0 then
    local r = math.min(u, tonumber(ARGV[i]))
    if r > 0 then redis.call('DECRBY', KEYS[i], r) end
  end
end
return 1
`;

/**
 * Write back what the local fallback charged during an outage: the spending
 * happened, so it is added without a limit check.
 * KEYS[i]: counter; ARGV: amount_i, ttl_ms_i pairs.
 */
export const RECONCILE_LUA = `
for i = 1, #KEYS do
  local amount = tonumber(ARGV[2 * i - 1])
  local v = redis.call('INCRBY', KEYS[i], amount)
  if v == amount then redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i])) end
end
return 1
`;

export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** EVALSHA, falling back to EVAL (which also caches the script) when Redis does not know it yet. */
  async run(client: Redis | Cluster, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * Runs the script, then WAITs (on the same connection, so it covers the
   * script's writes) until `replicas` replicas have them or `waitMs` passes.
   * Resolves the script's reply and how many replicas acknowledged it.
   */
  async runReplicated(
    client: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
    replicas: number,
    waitMs: number,
  ): Promise<{ reply: unknown; acknowledged: number }> {
    // Both are written at once: the WAIT follows the EVALSHA on the socket.
    const script = client.evalsha(this.sha, keys.length, ...keys, ...args);
    let wait = client.wait(replicas, waitMs);
    let reply: unknown;
    try {
      reply = await script;
    } catch (err) {
      void wait.catch(() => undefined);
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      const loaded = client.eval(this.source, keys.length, ...keys, ...args);
      wait = client.wait(replicas, waitMs);
      try {
        reply = await loaded;
      } catch (e) {
        void wait.catch(() => undefined);
        throw e;
      }
    }
    return { reply, acknowledged: await wait };
  }
}
