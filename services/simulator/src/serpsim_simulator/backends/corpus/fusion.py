"""The hybrid mode: reciprocal-rank fusion (RRF) of the BM25 and the dense rankings.

score(d) = sum over rankings of 1 / (k + rank(d)), rank from 1, k = 60 (Cormack, Clarke and
Büttcher, SIGIR 2009). Ranks, not scores: BM25 scores are unbounded and depend on the query's
length and terms, cosine scores live in [-1, 1] and bunch together, so any normalisation of the
two (min-max per query, z-scores) lets the shape of one query's score list decide the mix. RRF
needs no tuning, and a passage ranked well by either retriever rises. Ties break by row, so
the fusion is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60

Ranking = list[tuple[int, float]]
"""(row, score) pairs, best first: what each retriever answers per query."""


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = RRF_K) -> Ranking:
    """One ranking of (row, fused score), best first, from several (row, score) rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
