"""Search backends: queries in, documents out, behind every API shape.

    base.py       Backend protocol, Hit, BackendResult, Usage
    settings.py   configuration: a named list of backends (simulated | corpus | serpapi)
    factory.py    make_backend(settings): a corpus or SerpApi backend, unstarted
    errors.py     start-up errors (bad corpus, bad index) and upstream errors (HTTP status)
    corpus/       a local collection: JSONL reader, document store, BM25, dense, hybrid, index
    serpapi/      a proxy to real SerpApi with a spend cap

The simulation is a backend too; it lives with the rest of the simulation (simulation/backend.py).
Heavy libraries (bm25s, faiss, sentence-transformers, torch) are imported inside the modules
that need them, never here: `import serpsim_simulator.backends` stays cheap.
"""
