-- The last fencing token handed out per Redis lock name (Shared/Redis/RedisLock.swift). Redis
-- counts fences with INCR on `<lock>:fence`, and Redis can lose that count: a FLUSHALL, a restart
-- without persistence, a failover to a replica that had not received the INCR. Every acquisition
-- therefore also passes through this row, and the holder's fence is the larger of Redis's count
-- and this row's fence + 1, written here before the holder may use it: a fence never goes back,
-- whatever Redis forgot.
CREATE TABLE lock_fence (
    name        text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 512),
    fence       bigint NOT NULL CHECK (fence >= 1),
    issued_at   timestamptz NOT NULL DEFAULT now()
);
