"""Test doubles named by the project's standards: a fake engine for fault injection and overhead."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence

from serpsim_simulator.engines.base import Completion, EngineError, SamplingSettings

_QUERY = re.compile(r"^Query: (.*)$", re.MULTILINE)


class FakeEngine:
    """Writes five `Doc k:` lines that echo the query, quality and seed; records every call."""

    kind = "fake"
    model_name = "fake-sim"

    def __init__(self, text: str | None = None, fail: Exception | None = None, delay_s: float = 0.0) -> None:
        self.text = text
        self.fail = fail
        self.delay_s = delay_s
        self.calls: list[tuple[list[str], list[SamplingSettings]]] = []
        self._ready = False

    async def start(self) -> None:
        self._ready = True

    def ready(self) -> bool:
        return self._ready

    async def generate(self, prompts: Sequence[str], settings: Sequence[SamplingSettings]) -> list[Completion]:
        self.calls.append((list(prompts), list(settings)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        return [self._complete(p, s) for p, s in zip(prompts, settings)]

    def _complete(self, prompt: str, settings: SamplingSettings) -> Completion:
        if self.text is not None:
            return Completion(self.text, len(prompt.split()), len(self.text.split()))
        match = _QUERY.search(prompt)
        query = match.group(1) if match else "?"
        kind = "noisy" if "Noisy Output:" in prompt else "useful"
        tag = hashlib.sha1(f"{prompt}:{settings.seed}".encode()).hexdigest()[:6]
        text = "\n".join(f"Doc {k}: {query} {kind} fact number {k} ref {tag}." for k in range(1, 6))
        return Completion(text, len(prompt.split()), len(text.split()))

    async def aclose(self) -> None:
        self._ready = False


class BrokenEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__(fail=EngineError("CUDA out of memory (injected)"))
