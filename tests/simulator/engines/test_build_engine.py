"""build_engine: one kind per engine module, imported only when chosen; missing extras named."""

from __future__ import annotations

import importlib.util

import pytest
from serpsim_simulator.engines import Engine, build_engine
from serpsim_simulator.engines.openai_compat import OpenAICompatEngine
from serpsim_simulator.settings import EngineSettings


def test_openai_kind_builds_without_starting() -> None:
    eng = build_engine(EngineSettings(kind="openai", openai_urls=["http://127.0.0.1:9/v1"], served_model_name="m"))
    assert isinstance(eng, OpenAICompatEngine) and isinstance(eng, Engine)
    assert eng.kind == "openai" and eng.model_name == "m" and not eng.ready()


def test_missing_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ImportError, match=r"serpsim-simulator\[vllm\]"):
        build_engine(EngineSettings(kind="vllm", model="/nonexistent"))


def test_vllm_kind_builds_lazily() -> None:
    from serpsim_simulator.engines.vllm_local import VllmEngine

    eng = build_engine(EngineSettings(kind="vllm", model="/nonexistent", served_model_name="sim"))
    assert isinstance(eng, VllmEngine) and eng.model_name == "sim" and not eng.ready()
