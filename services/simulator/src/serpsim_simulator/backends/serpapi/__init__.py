"""Real Google through SerpApi, behind the simulator's own routes.

    spend.py    the spend cap: upstream searches per hour and per month, persisted
    client.py   the HTTP client: one search, SerpApi's errors mapped to ours, the key kept secret
    backend.py  the `Backend`: spend cap + client + organic results as hits
"""
