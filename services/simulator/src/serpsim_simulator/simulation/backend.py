"""The simulation as a `Backend`: search queries in, documents written by the simulation LLM out.

Per query, one of two ways:
- per call (ZeroSearch): `quality` (default useful) labels every document; ceil(num/5)
  generations of that template;
- per document: `noise_ratio` or `noise_count` plan k noisy documents of num (noise.py), written
  by ceil(k/5) noisy and ceil((num-k)/5) useful generations (none of a kind whose count is 0),
  then interleaved by a seeded shuffle. An unseeded query draws its seed here, so its plan,
  its generations and its order come from one seed.
Either way every hit carries its label (`Hit.label`), and all generations of all queries of a
batch go to the engine as one batch (`Simulator.simulate`).

The engine loads in the background (`start` returns at once): `/healthz` answers while weights
load, and `/readyz` says when this backend is ready or why it failed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import orjson

from ..backends.base import BackendResult, Hit, Usage
from ..engines.base import Engine
from ..search.query import SearchQuery
from ..settings import SimulationSettings
from .admission import Admission
from .documents import Document
from .noise import NoisePlan, interleave, plan_noise
from .simulate import SimRequest, SimResult, Simulator

logger = logging.getLogger(__name__)

LINK_DOMAIN = "serpsim.example"
"""Synthetic links live under a reserved domain (RFC 2606), so nobody mistakes them for real pages."""
SOURCE = "serpsim (simulated)"


def document_hit(doc: Document, label: str) -> Hit:
    key, slug = doc.key, doc.slug
    return Hit(
        id=key, title=doc.title, text=doc.snippet, link=f"https://{LINK_DOMAIN}/{key}/{slug}", label=label,  # type: ignore[arg-type]
        extra={"displayed_link": f"https://{LINK_DOMAIN} › {slug}", "source": SOURCE},
    )


def _usage(parts: Sequence[SimResult]) -> Usage:
    return Usage(
        generations=sum(p.generations for p in parts),
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        completion_tokens=sum(p.completion_tokens for p in parts),
        engine_seconds=sum(p.engine_seconds for p in parts),
    )


class SimulatedBackend:
    kind = "simulated"

    def __init__(
        self, name: str, engine: Engine, settings: SimulationSettings, admission: Admission | None = None
    ) -> None:
        self.name = name
        self.engine = engine
        self.simulator = Simulator(engine, settings, admission)
        self.loaded = False
        self.load_error: str | None = None
        self._loading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loading = asyncio.create_task(self._load())

    async def _load(self) -> None:
        engine = self.engine
        try:
            await engine.start()
        except Exception as exc:  # any load failure must surface on /readyz, not kill the server
            self.load_error = f"engine failed to load: {exc}"
            logger.exception("engine %s failed to load model %s", engine.kind, engine.model_name)
        else:
            self.loaded = True
            logger.info("engine %s ready with model %s", engine.kind, engine.model_name)

    def ready(self) -> bool:
        return self.loaded and self.engine.ready()

    def error(self) -> str | None:
        return self.load_error

    def identity(self) -> str:
        engine, s = self.engine, self.simulator.settings
        fields = ["simulated", engine.kind, engine.model_name, engine.model_revision, s.prompt_mode,
                  s.temperature, s.top_p, s.max_tokens]
        return orjson.dumps(fields).decode()

    def describe(self) -> dict[str, Any]:
        return {"model": self.engine.model_name, "engine": self.engine.kind, "prompt_mode": self.simulator.prompt_mode}

    def query_key(self, query: SearchQuery) -> tuple[Any, ...]:
        # The page, not the offset: documents depend on the page, positions are renumbered from
        # the offset when a shape renders them.
        q = query
        return (q.query, q.num, q.offset // q.num, q.quality or "useful", q.question, q.answer, q.seed,
                q.noise_ratio, q.noise_count)

    async def search(self, queries: Sequence[SearchQuery]) -> list[BackendResult]:
        """Every generation of every query in one engine batch."""
        requests: list[SimRequest] = []
        # Per query: (plan, index of its useful part, index of its noisy part, seed), or None per call.
        mixes: list[tuple[NoisePlan, int | None, int | None, int] | None] = []
        for q in queries:
            page = q.offset // q.num
            if not q.mixes_noise:
                requests.append(SimRequest(q.query, q.quality or "useful", q.question, q.answer, q.num, q.seed, page))
                mixes.append(None)
                continue
            seed = q.seed if q.seed is not None else secrets.randbits(31)
            plan = plan_noise(q.num, ratio=q.noise_ratio, count=q.noise_count, seed=seed)
            useful = noisy = None
            if plan.useful:
                useful = len(requests)
                requests.append(SimRequest(q.query, "useful", q.question, q.answer, plan.useful, seed, page))
            if plan.noisy:
                noisy = len(requests)
                requests.append(SimRequest(q.query, "noisy", q.question, q.answer, plan.noisy, seed, page))
            mixes.append((plan, useful, noisy, seed))
        simulated = await self.simulator.simulate(requests)
        results: list[BackendResult] = []
        part = 0
        for q, mix in zip(queries, mixes):
            if mix is None:
                sim = simulated[part]
                part += 1
                label = sim.request.quality
                hits = [document_hit(doc, label) for doc in sim.documents]
                usage = _usage([sim])
            else:
                plan, useful, noisy, seed = mix
                parts = [simulated[i] for i in (useful, noisy) if i is not None]
                part += len(parts)
                useful_docs = simulated[useful].documents if useful is not None else []
                noisy_docs = simulated[noisy].documents if noisy is not None else []
                hits = [document_hit(doc, label) for label, doc in interleave(useful_docs, noisy_docs, plan, seed)]
                usage = _usage(parts)
            results.append(BackendResult(query=q.query, hits=hits, offset=q.offset, usage=usage))
        return results

    async def aclose(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            with suppress(asyncio.CancelledError):
                await self._loading
        await self.engine.aclose()
