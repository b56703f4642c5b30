-- The claim fast path: take the user's claim lock, then check and reserve stock, today's count, the
-- user's count and the budget, in one atomic step (one round trip).
-- KEYS: meta, issued, spent, day, user, lock (all hash-tagged with the template, one slot).
-- ARGV: cost (cents), per-user limit, TTL of the user key (seconds), lock token, lock TTL (ms).
-- Answers {verdict, generation}. LOCKED: another claim of this user on this template holds the
-- lock. Every answer but OK leaves the lock free; after OK the caller holds it until it runs
-- claim_release (or the lock expires). RELOAD_* asks the caller to rebuild a counter from
-- PostgreSQL first. Also run by Deploy/bench through redis-benchmark (EVALSHA).
if not redis.call('SET', KEYS[6], ARGV[4], 'NX', 'PX', ARGV[5]) then return {'LOCKED', ''} end
local function refuse(verdict, gen)
    redis.call('DEL', KEYS[6])
    return {verdict, gen}
end
local meta = redis.call('HMGET', KEYS[1], 'gen', 'stock', 'daily', 'budget', 'fresh')
if not meta[1] then return refuse('RELOAD_TEMPLATE', '') end
local gen, stock, daily, budget, fresh = meta[1], tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4]), meta[5]
local cost, perUser, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dayCount = redis.call('GET', KEYS[4])
if daily >= 0 and not dayCount and fresh ~= '1' then return refuse('RELOAD_DAY', gen) end
local userCount = redis.call('GET', KEYS[5])
if not userCount and fresh ~= '1' then return refuse('RELOAD_USER', gen) end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= stock then return refuse('SOLD_OUT', gen) end
if daily >= 0 and tonumber(dayCount or '0') >= daily then return refuse('DAILY_LIMIT', gen) end
if tonumber(userCount or '0') >= perUser then return refuse('PER_USER_LIMIT', gen) end
if budget >= 0 and tonumber(redis.call('GET', KEYS[3]) or '0') + cost > budget then return refuse('BUDGET_EXHAUSTED', gen) end
redis.call('INCR', KEYS[2])
redis.call('INCRBY', KEYS[3], cost)
if daily >= 0 then
    redis.call('INCR', KEYS[4])
    redis.call('EXPIRE', KEYS[4], 172800)
end
redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], ttl)
return {'OK', gen}
