"""Search backends: queries in, documents out, beside the simulation (prompts in, text out).

    base.py       Hit, BackendResult, the Backend protocol every kind implements
    settings.py   configuration: a named list of backends (simulated | corpus | serpapi)
    factory.py    make_backend(settings): a corpus or SerpApi backend, unstarted
    errors.py     start-up errors (bad corpus, bad index) and upstream errors (HTTP status)
    noise.py      per-document noise planning for the simulated backend (pure functions)
    corpus/       a local collection: JSONL reader, document store, BM25, dense, hybrid, index
    serpapi/      a proxy to real SerpApi with a spend cap

Heavy libraries (bm25s, faiss, sentence-transformers, torch) are imported inside the modules
that need them, never here: `import serpsim_simulator.backends` stays cheap.
"""
