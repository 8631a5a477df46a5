"""The one search path every API shape calls (service.py's docstring is its contract).

    query.py     SearchQuery: one search, as every shape asks for it
    result.py    SearchResult: one query's hits, which backend answered, what it cost
    service.py   SearchService.run: backend choice, per-kind rules, admission, cache, usage, archive
    accounts.py  per-identity usage and limits (searches, generations)
    cache.py     the result cache (SQLite, Redis) for every backend
    archive.py   recent responses by id (SerpApi's Search Archive API)
"""
