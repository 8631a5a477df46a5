"""The simulation: a search query in, documents written by the simulation LLM out.

    backend.py    the simulation as a search backend (per-call quality or per-document noise)
    simulate.py   Simulator: prompts -> one engine batch -> documents
    noise.py      per-document noise planning (how many noisy, which generations, what order)
    documents.py  the `Doc k:` parser
    titles.py     a result's headline
    admission.py  the bounded queue in front of the engine (503 beyond it)

The prompts themselves are the protocol package's (serpsim_protocol.prompts), byte-exact.
"""
