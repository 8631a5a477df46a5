"""A local corpus backend: JSONL in, a persistent index out, documents served from it.

    jsonl.py     read and validate a corpus file (both forms), with file:line errors
    docstore.py  the documents on disk: one JSONL file + memory-mapped line offsets
    manifest.py  the index directory's manifest: format version, digest, kinds, counts
    bm25.py      BM25 with bm25s (tokenisation and stemming choices are documented there)
    dense.py     a sentence-transformers encoder and a faiss index (configurable factory)
    fusion.py    reciprocal-rank fusion for the hybrid mode
    build.py     corpus -> index directory (`serpsim-simulator index`)
    index.py     a loaded index directory: search by mode, hits with stable links
    backend.py   the async `Backend` over a loaded index (searches run in a thread pool)
"""
