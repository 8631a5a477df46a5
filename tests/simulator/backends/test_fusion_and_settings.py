"""Reciprocal-rank fusion and the backends' settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from serpsim_simulator.backends.corpus.fusion import reciprocal_rank_fusion
from serpsim_simulator.backends.settings import BackendsSettings, CorpusBackendSettings, SerpApiBackendSettings
from serpsim_simulator.errors import InvalidParameter


def test_rrf_ranks_by_summed_reciprocal_ranks() -> None:
    lexical = [(7, 12.0), (3, 9.5), (5, 1.0)]
    semantic = [(3, 0.91), (9, 0.90), (7, 0.20)]
    fused = reciprocal_rank_fusion([lexical, semantic], k=60)
    # 3: 1/62 + 1/61; 7: 1/61 + 1/63; 9: 1/62; 5: 1/63
    assert [row for row, _ in fused] == [3, 7, 9, 5]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[3][1] == pytest.approx(1 / 63)


def test_rrf_ignores_score_scales_and_breaks_ties_by_row() -> None:
    a = reciprocal_rank_fusion([[(4, 1e6), (2, 1e5)], [(2, 0.1), (4, 0.05)]])
    assert [row for row, _ in a] == [2, 4]  # equal fused scores: lower row first


def test_make_backend_builds_each_real_kind() -> None:
    from serpsim_simulator.backends.corpus.backend import CorpusBackend
    from serpsim_simulator.backends.factory import make_backend
    from serpsim_simulator.backends.serpapi.backend import SerpApiBackend
    from serpsim_simulator.backends.settings import SimulatedBackendSettings

    corpus = make_backend(CorpusBackendSettings(name="wiki", index="/x"))  # type: ignore[arg-type]
    assert isinstance(corpus, CorpusBackend) and corpus.name == "wiki" and not corpus.ready()
    serpapi = make_backend(SerpApiBackendSettings(name="google", spend_file=":memory:"))
    assert isinstance(serpapi, SerpApiBackend) and serpapi.name == "google" and not serpapi.ready()
    with pytest.raises(TypeError, match="simulated"):
        make_backend(SimulatedBackendSettings())  # type: ignore[arg-type]


def test_default_is_one_simulated_backend() -> None:
    settings = BackendsSettings()
    assert [(b.kind, b.name) for b in settings.backends] == [("simulated", "simulated")]
    assert settings.resolve(None) is settings.default


def test_backends_parse_by_kind_and_resolve_by_name() -> None:
    settings = BackendsSettings.model_validate([
        {"kind": "simulated"},
        {"kind": "corpus", "name": "wiki", "index": "/data/wiki", "mode": "hybrid", "faiss_params": {"efSearch": 64}},
        {"kind": "serpapi", "name": "google", "searches_per_hour": 50},
    ])
    wiki = settings.resolve("wiki")
    assert isinstance(wiki, CorpusBackendSettings) and wiki.mode == "hybrid" and wiki.faiss_params == {"efSearch": 64.0}
    google = settings.resolve("google")
    assert isinstance(google, SerpApiBackendSettings) and google.searches_per_hour == 50
    assert google.api_key_env == "SERPAPI_API_KEY" and google.base_url == "https://serpapi.com"
    assert settings.resolve(None).name == "simulated" and settings.names == ["simulated", "wiki", "google"]


def test_unknown_backend_is_400_naming_the_known_ones() -> None:
    settings = BackendsSettings.model_validate([{"kind": "simulated"}, {"kind": "corpus", "index": "/x"}])
    for name in ("wikii", ""):
        with pytest.raises(InvalidParameter) as info:
            settings.resolve(name)
        assert info.value.message == f"Unknown backend `{name}`. This server has: simulated, corpus."
        assert info.value.status == 400


@pytest.mark.parametrize(
    ("backends", "says"),
    [
        ([{"kind": "simulated"}, {"kind": "simulated"}], "unique"),
        ([{"kind": "simulated"}, {"kind": "simulated", "name": "again"}], "at most one"),
        ([{"kind": "corpus"}], "index"),
        ([{"kind": "corpus", "index": "/x", "mode": "sparse"}], "mode"),
        ([{"kind": "elastic", "name": "e"}], "kind"),
        ([{"kind": "serpapi", "searches_per_month": 0}], "searches_per_month"),
        ([{"kind": "simulated", "name": "has space"}], "name"),
        ([], "at least 1"),
    ],
)
def test_bad_backend_settings_fail_at_start(backends: list[dict[str, object]], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        BackendsSettings.model_validate(backends)
