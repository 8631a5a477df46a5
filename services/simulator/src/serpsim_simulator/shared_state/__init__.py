"""State shared by every worker and replica, in one Redis (`shared_state.redis_url`).

    settings.py      SharedStateSettings, shared_redis_url (the older cache.redis_url resolves here too)
    client.py        SharedRedis: the client, timeouts, outage counting and logging
    limits.py        SharedRateLimiter: token bucket + sliding hour per identity, one Lua script
    usage.py         SharedUsage: per identity and total, this month and last hour (/account.json)
    archive.py       SharedSearchArchive: /searches/{id}.json from any worker
    spend.py         SpendCap: a paid upstream's searches per hour and per month
    result_cache.py  SharedResultCache: the result cache, a miss when Redis is down
    window_lua.py    the Lua the sliding windows share

Redis errors never leave this package: limits and the spend cap fail closed (503) or open, as
configured; the cache misses; usage and the archive skip.

Nothing is imported here: `settings` must stay importable without the `redis` package (extra
`[redis]`), which every other module needs.
"""
