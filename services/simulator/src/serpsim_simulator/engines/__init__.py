"""Model runtimes behind one interface (`Engine`), chosen by `EngineSettings.kind`.

Each engine module is imported only when its kind is chosen, so the simulator starts without the
libraries of engines it does not use (the `openai` engine needs neither torch nor vLLM).
"""

from __future__ import annotations

import importlib.util

from ..settings import EngineSettings
from .base import Completion, Engine, EngineError, PromptTooLong, SamplingSettings, chat_messages

__all__ = [
    "Completion", "Engine", "EngineError", "PromptTooLong", "SamplingSettings", "build_engine", "chat_messages",
]


def _require(kind: str, module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"engine kind {kind!r} needs the {module!r} package: pip install '{install}'")


def build_engine(cfg: EngineSettings) -> Engine:
    """The engine `cfg.kind` names, constructed but not started (the app's lifespan starts it)."""
    match cfg.kind:
        case "transformers":
            _require(cfg.kind, "torch", "torch==2.13.0")
            _require(cfg.kind, "transformers", "serpsim-simulator")
            from .hf_local import TransformersEngine

            return TransformersEngine(cfg)
        case "vllm":
            _require(cfg.kind, "vllm", "serpsim-simulator[vllm]")
            from .vllm_local import VllmEngine

            return VllmEngine(cfg)
        case "openai":
            from .openai_compat import OpenAICompatEngine

            return OpenAICompatEngine(cfg)
        case _:
            raise ValueError(f"unknown engine kind {cfg.kind!r}")
