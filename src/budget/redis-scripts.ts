// The Lua scripts the Redis backend runs. Each runs atomically in Redis, so a
// check and its charge can never interleave with another sidecar's.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Check every counter, then charge every counter, or none.
 * KEYS[i]: counter i. ARGV: for each i, 4 values: limit, amount, ttl_ms, lease;
 * then the lease fraction (0 when leases are fixed-size units).
 * `lease` > 0 asks for a lease slice on top of the amount: a fraction of what
 * is left after this request (fraction > 0), or up to `lease` units.
 * Reply: {0, refused_i, used...} or {1, 0, used_1, extra_1, used_2, extra_2, ...}.
 * When several counters refuse, the one whose window ends last is named: it
 * is the one Retry-After must wait for.
 */
export const CHARGE_LUA = `
local n = #KEYS
local fraction = tonumber(ARGV[4 * n + 1])
local used = {}
local refused = 0
local refusedTtl = -1
for i = 1, n do
  local u = tonumber(redis.call('GET', KEYS[i]) or '0')
  used[i] = u
  local limit = tonumber(ARGV[4 * i - 3])
  local amount = tonumber(ARGV[4 * i - 2])
  local ttl = tonumber(ARGV[4 * i - 1])
  if u + amount > limit and ttl > refusedTtl then
    refused = i
    refusedTtl = ttl
  end
end
if refused > 0 then
  local out = {0, refused}
  for i = 1, n do out[#out + 1] = used[i] end
  return out
end
local out = {1, 0}
for i = 1, n do
  local limit = tonumber(ARGV[4 * i - 3])
  local amount = tonumber(ARGV[4 * i - 2])
  local ttl = tonumber(ARGV[4 * i - 1])
  local lease = tonumber(ARGV[4 * i])
  local extra = 0
  if lease > 0 then
    local spare = limit - used[i] - amount
    if fraction > 0 then extra = math.floor(spare * fraction) else extra = math.min(lease, spare) end
    if extra < 0 then extra = 0 end
  end
  local total = amount + extra
  local v = redis.call('INCRBY', KEYS[i], total)
  if v == total then redis.call('PEXPIRE', KEYS[i], ttl) end
  out[#out + 1] = v
  out[#out + 1] = extra
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
  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
