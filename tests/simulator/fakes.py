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
    model_revision = "fake-r0"

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


class HangingEngine(FakeEngine):
    """Never answers; counts the generations that were cancelled (deadline, disconnect, shutdown)."""

    def __init__(self) -> None:
        super().__init__()
        self.started_calls = 0
        self.cancelled = 0

    async def generate(self, prompts: Sequence[str], settings: Sequence[SamplingSettings]) -> list[Completion]:
        self.started_calls += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


class DyingEngine(FakeEngine):
    """Serves `calls_before_death` calls, then fails and reports not ready (a crashed GPU worker)."""

    def __init__(self, calls_before_death: int = 1) -> None:
        super().__init__()
        self.remaining = calls_before_death

    async def generate(self, prompts: Sequence[str], settings: Sequence[SamplingSettings]) -> list[Completion]:
        if self.remaining <= 0:
            self._ready = False
            raise EngineError("engine worker died (injected)")
        self.remaining -= 1
        return await super().generate(prompts, settings)


FAULTS = ("ok", "slow", "raise", "crash", "hang", "garbage_text", "wrong_count", "wrong_type")
"""Fault markers a query can carry as `[fault:<name>]` for `FaultyEngine`."""
_FAULT = re.compile(r"\[fault:([a-z_]+)\]")


class FaultyEngine(FakeEngine):
    """Misbehaves as each prompt's `[fault:<name>]` marker says, so a load test knows what it injected.

    ok: normal · slow: answers after `slow_s` · raise: EngineError · crash: RuntimeError ·
    hang: never answers · garbage_text: text with no `Doc k:` lines · wrong_count: too few
    completions · wrong_type: objects that are not completions.
    """

    def __init__(self, slow_s: float = 0.2) -> None:
        super().__init__()
        self.slow_s = slow_s
        self.injected: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.cancelled = 0

    async def generate(self, prompts: Sequence[str], settings: Sequence[SamplingSettings]) -> list[Completion]:
        match = _FAULT.search(prompts[0]) if prompts else None
        fault = match.group(1) if match else "ok"
        self.injected[fault] = self.injected.get(fault, 0) + 1
        try:
            if fault == "slow":
                await asyncio.sleep(self.slow_s)
            elif fault == "hang":
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if fault == "raise":
            raise EngineError("CUDA error: device-side assert triggered (injected)")
        if fault == "crash":
            raise RuntimeError("segfault in a custom kernel (injected)")
        if fault == "garbage_text":
            return [Completion("\x00\ufffd<|im_end|> no documents here", 3, 5) for _ in prompts]
        if fault == "wrong_count":
            return [Completion("Doc 1: x", 1, 1)] * max(0, len(prompts) - 1)
        if fault == "wrong_type":
            return [None] * len(prompts)  # type: ignore[list-item]
        return [self._complete(p, s) for p, s in zip(prompts, settings)]
