"""State shared by every worker and replica, in one Redis (`shared_state.redis_url`).

Each module is the Redis store behind an interface the search path already holds, beside the
in-process store it replaces:

    stores.py    SharedState: one client and every store below, built in the app's lifespan
    client.py    SharedRedis: the client, timeouts, outage counting and logging
    accounts.py  RedisAccountStore (search.accounts.AccountStore): rate limits, usage, /account.json
    archive.py   RedisArchive (search.archive.Archive): /searches/{id}.json from any worker
    cache.py     RedisCache (search.cache.ResultCache): the result cache, a miss when Redis is down
    spend.py     RedisSpendCap (backends.serpapi.spend.SpendStore): the SerpApi spend cap

Redis errors leave this package only as `errors.StoreUnavailable`; the search path applies the
outage policy. Nothing is imported here: the package needs the `redis` extra.
"""
