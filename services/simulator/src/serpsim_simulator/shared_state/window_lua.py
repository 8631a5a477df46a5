"""Lua shared by the scripts that count against a sliding window (rate limits, the spend cap).

Scripts run atomically inside Redis: a check and its increment are one step however many
processes call at once, which read-modify-write from Python could never be.

A window is two keys: a sorted set logging each admission as a member `<time>:<seq>:<cost>`
scored by its time, and a hash whose field `used` keeps the log's running sum (so a check costs
the expired entries, not the whole log). If either key was lost (evicted under `maxmemory`), the
sum is recounted from what remains of the log.
"""

from __future__ import annotations

CLOCK = """
-- The time: the caller's (ARGV, tests) or else Redis's own, one clock for every process.
local function now_from(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

WINDOW = """
local function member_cost(member)
  return tonumber(string.match(member, ':(%d+)$'))
end

-- The cost admitted within (now - window, now]; entries at or before now - window are dropped.
local function window_used(hash, log, now, window)
  local used = tonumber(redis.call('HGET', hash, 'used'))
  local cutoff = string.format('%.6f', now - window)
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  if #expired > 0 then
    if used ~= nil then
      for _, member in ipairs(expired) do used = used - member_cost(member) end
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
  end
  if used == nil or used < 0 or redis.call('EXISTS', log) == 0 then
    used = 0
    for _, member in ipairs(redis.call('ZRANGE', log, 0, -1)) do used = used + member_cost(member) end
  end
  return used
end

-- Seconds until enough of the oldest admissions leave the window for `cost` more to fit in `limit`.
local function window_wait(log, used, cost, limit, now, window)
  local need = used + cost - limit
  local freed = 0
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    freed = freed + member_cost(entries[i])
    if freed >= need then return tonumber(entries[i + 1]) + window - now end
  end
  return window
end

local function window_add(hash, log, used, cost, now, window)
  local seq = redis.call('HINCRBY', hash, 'seq', 1)
  local stamp = string.format('%.6f', now)
  redis.call('ZADD', log, stamp, stamp .. ':' .. seq .. ':' .. string.format('%d', cost))
  redis.call('HSET', hash, 'used', string.format('%d', used + cost))
  redis.call('PEXPIRE', log, math.ceil(window * 1000))
end
"""
