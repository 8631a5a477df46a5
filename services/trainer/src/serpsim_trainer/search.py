"""The one search path of the trainer: the verl agent loop, the native tool, `eval` and `ask` all
search through a `Searcher` built from one `SearchBackendConfig`.

A `Searcher` owns one `serpsim_protocol.SearchClient`, chooses each call's noise from the
curriculum (training split only: a `quality` per call, or a `noise_ratio` per document), derives
each call's seed from (run seed, step, sample uid, rollout index, turn) so that the rollouts of
one prompt see different documents and a run replays, and renders `Doc k: ...` lines.

With `kind: simulator`, one simulator URL may host several backends (the simulation, a corpus,
SerpApi): `backend` names the one training searches go to, `validation_backend` the one for
validation and evaluation. The Searcher reads each backend's kind from the simulator
(`GET /backends`, once) and sends quality, noise, hints and seeds only to the simulation: a real
backend gets the query alone, whatever the curriculum or `send_hints` say. A failed search is shown to the policy as ZeroSearch did
(`No information available`), but it is never silent: the outcome says so, it is logged and
traced, the agent loops report it per trajectory, and the trainer stops a run whose step has too
many (`failure_bound`). A search never raises for a failure of the backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from serpsim_protocol import (
    BACKEND_NAME,
    REAL_BACKEND_KINDS,
    BackendsResponse,
    Quality,
    RetrieveResponse,
    RetryPolicy,
    SearchClient,
    SearchError,
    SearchResponse,
)

from .curriculum import Curriculum
from .tags import NO_INFORMATION

logger = logging.getLogger(__name__)

BackendKind = Literal["simulator", "serpapi", "retrieve"]
DEFAULT_URLS: dict[str, str] = {"simulator": "http://127.0.0.1:8000", "serpapi": "https://serpapi.com"}
TRAIN_SPLIT = "train"


class SearchBackendConfig(BaseModel):
    """Where and how to search. Parsed once from the tool YAML's `config` block (or any dict)."""

    model_config = ConfigDict(extra="forbid")

    kind: BackendKind = "simulator"
    url: str | None = Field(default=None, description="base URL; defaults per kind (serpapi: https://serpapi.com)")
    backend: str | None = Field(
        default=None, pattern=BACKEND_NAME,
        description="simulator: the backend training searches name (`backend=`); null: the server's default",
    )
    validation_backend: str | None = Field(
        default=None, pattern=BACKEND_NAME,
        description="simulator: the backend validation and evaluation searches name (e.g. a corpus); null: `backend`",
    )
    api_key_env: str | None = Field(default=None, description="environment variable holding the API key")
    topk: int = Field(default=5, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    send_hints: bool = Field(
        default=True, description="send the sample's question and first gold answer (training split only)"
    )
    use_curriculum: bool = Field(default=True, description="send a `quality` drawn from the curriculum (training only)")
    curriculum: Curriculum = Field(default_factory=Curriculum)
    seed: int = Field(default=0, description="run seed; every call's seed derives from it")
    retrieve_path: str = "/retrieve"
    trace_path: str | None = Field(default=None, description="JSONL file: one line per search call")
    launch: str | None = Field(default=None, description="tag of the launch, written on every trace line")

    @model_validator(mode="after")
    def _backend_rules(self) -> SearchBackendConfig:
        if self.kind == "retrieve" and not self.url:
            raise ValueError("search backend `retrieve` needs `url` (a Search-R1 /retrieve server)")
        if self.kind != "simulator" and (self.backend or self.validation_backend):
            raise ValueError("`backend` and `validation_backend` name backends of a serpsim simulator (kind: simulator)")
        if self.kind == "serpapi":
            # Real SerpApi knows nothing of quality or hints; never ship gold answers to a third party.
            self.send_hints = False
            self.use_curriculum = False
        return self

    @property
    def base_url(self) -> str:
        return self.url or DEFAULT_URLS[self.kind]


class AgentSettings(BaseModel):
    """Tag-protocol loop settings, kept in the same file as the backend (one place of truth)."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int = Field(default=5, ge=1, description="action turns (searches or invalid actions) before the end")
    final_turn: bool = Field(
        default=True, description="after max_turns, one more generation in which only an answer counts (ZeroSearch)"
    )
    max_obs_tokens: int = Field(default=2048, ge=16, description="observation tokens kept per search (ZeroSearch: 2048)")
    max_tokens_per_turn: int | None = Field(default=500, ge=1, description="generation cap per turn (ZeroSearch: 500)")
    prompt_format: Literal["auto", "chat", "plain"] = Field(
        default="auto", description="auto: the chat template when the tokenizer has one, else plain text (base models)"
    )


class SearchSettings(SearchBackendConfig):
    """The whole `config` block of `configs/search_tool.yaml`: backend + agent-loop settings.

    `type` belongs to verl's tool loader (`native`); it is accepted and ignored here.
    """

    type: str = "native"
    agent: AgentSettings = Field(default_factory=AgentSettings)


def load_search_settings(path: str | Path, tool_name: str = "search") -> SearchSettings:
    """Read the search tool's `config` block from a verl tool YAML (or a bare settings YAML)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if "tools" in data:
        for tool in data["tools"]:
            schema_name = ((tool.get("tool_schema") or {}).get("function") or {}).get("name")
            if schema_name == tool_name or tool.get("class_name", "").endswith(".SearchTool"):
                return SearchSettings.model_validate(tool.get("config") or {})
        raise ValueError(f"{path}: no tool named {tool_name!r} (or class SearchTool) in `tools`")
    return SearchSettings.model_validate(data)


def derive_seed(run_seed: int, step: int, uid: str, rollout: int, turn: int) -> int:
    """A stable 31-bit seed per search call (Python's `hash()` is salted per process; this is not)."""
    key = f"{run_seed}|{step}|{uid}|{rollout}|{turn}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class SearchContext:
    """Who is searching: one call of one turn of one rollout of one sample."""

    step: int = 0
    split: str = TRAIN_SPLIT
    uid: str = ""
    rollout: int = 0
    turn: int = 0
    question: str | None = None
    answer: str | None = None

    @property
    def is_train(self) -> bool:
        return self.split == TRAIN_SPLIT


@dataclass
class SearchOutcome:
    text: str
    """What the policy is shown: `Doc k: ...` lines, or `No information available`."""
    ok: bool
    quality: Quality | None
    p_noisy: float | None
    seed: int
    backend: str | None = None
    """The simulator's backend the call named (None: the server's default, or not a simulator)."""
    noise_ratio: float | None = None
    """`document` granularity: the share of noisy documents asked for."""
    documents: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    """The simulation's label of each document (audit only: never shown to the policy)."""
    error: str | None = None
    latency_s: float = 0.0
    search_id: str | None = None

    @property
    def n_docs(self) -> int:
        return len(self.documents)


@dataclass
class _Clients:
    loop: asyncio.AbstractEventLoop | None = None
    client: SearchClient | None = None
    stale: list[SearchClient] = field(default_factory=list)


@dataclass(frozen=True)
class CallPlan:
    """What one search call sends besides the query."""

    backend: str | None
    real: bool
    """The backend is real search: nothing but the query is sent."""
    quality: Quality | None
    noise_ratio: float | None
    p_noisy: float | None
    seed: int
    question: str | None
    answer: str | None


def render_serpapi(response: SearchResponse, topk: int) -> list[str]:
    """`organic_results` as document texts. A simulated response (it carries serpsim's `simulation`
    block) holds each written document in `snippet`: the document alone, exactly what ZeroSearch
    showed its policy. Real SerpApi results are a title and a snippet: both."""
    simulated = response.simulation is not None
    docs = []
    for result in response.organic_results[:topk]:
        title, snippet = result.title.strip(), (result.snippet or "").strip()
        if simulated or not title:
            docs.append(snippet or title)
        elif not snippet:
            docs.append(title)
        else:
            docs.append(f"{title}: {snippet}")
    return [d for d in docs if d]


def render_retrieve(response: RetrieveResponse, topk: int) -> list[str]:
    """Search-R1 `contents` = "Title"\\ntext; a hit is `{"document", "score"}`, or the bare document
    when the server was not asked for scores (Search-R1's own server)."""
    hits = response.result[0] if response.result else []
    docs = []
    for hit in hits[:topk]:
        document = getattr(hit, "document", hit)
        title, text = document.title.strip().strip('"'), document.text.strip()
        if not text:
            docs.append(title)
        elif not title or text.startswith(title):
            docs.append(text)
        else:
            docs.append(f"{title}: {text}")
    return [d for d in docs if d]


def format_docs(docs: list[str]) -> str:
    return "\n".join(f"Doc {i}: {doc}" for i, doc in enumerate(docs, start=1))


class Searcher:
    """One per process (per verl agent-loop worker, per eval run). Safe to share across coroutines."""

    def __init__(self, config: SearchBackendConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._api_key = self._read_api_key()
        self._clients = _Clients()
        self._warned: set[str] = set()
        self._catalogue: BackendsResponse | None = None

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        """Log a warning once per searcher (once per verl worker), not once per trajectory."""
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    def _read_api_key(self) -> str | None:
        env = self.config.api_key_env or ("SERPAPI_API_KEY" if self.config.kind == "serpapi" else None)
        if env is None:
            return None
        key = os.environ.get(env)
        if not key and self.config.kind == "serpapi":
            raise ValueError(f"search backend `serpapi` needs an API key in ${env}")
        return key or None

    def _client(self) -> SearchClient:
        # httpx pools bind to the event loop that first used them; tests and CLIs may run several loops.
        loop = asyncio.get_running_loop()
        if self._clients.client is None or self._clients.loop is not loop:
            if self._clients.client is not None:
                self._clients.stale.append(self._clients.client)
            self._clients.client = SearchClient(
                self.config.base_url,
                api_key=self._api_key,
                timeout_s=self.config.timeout_s,
                retry=RetryPolicy(max_retries=self.config.max_retries),
                transport=self._transport,
            )
            self._clients.loop = loop
        return self._clients.client

    async def aclose(self) -> None:
        if self._clients.client is not None:
            await self._clients.client.aclose()
            self._clients.client = None

    def backend_for(self, ctx: SearchContext) -> str | None:
        """The simulator backend this call names: training's, or validation's for other splits."""
        cfg = self.config
        if ctx.is_train:
            return cfg.backend
        return cfg.validation_backend or cfg.backend

    async def is_real(self, backend: str | None) -> bool:
        """Whether the simulator's `backend` (None: its default) is real search, from `GET /backends`
        (read once per Searcher). Only a simulator hosts several backends; the other kinds need no
        lookup. An unknown name raises ValueError (the search fails and says so)."""
        if self.config.kind != "simulator":
            return self.config.kind == "serpapi"
        if self._catalogue is None:
            self._catalogue = await self._client().backends()
        found = self._catalogue.find(backend)
        if found is None:
            names = ", ".join(b.name for b in self._catalogue.backends)
            raise ValueError(f"the simulator at {self.config.base_url} has no backend {backend!r} (it has: {names})")
        return found.kind in REAL_BACKEND_KINDS

    def plan(self, ctx: SearchContext, real: bool = False) -> CallPlan:
        """What one call will send: the noise from the curriculum (training split only), the hints
        (training split only, when `send_hints`), the call's seed; nothing but the query to real search."""
        cfg = self.config
        seed = derive_seed(cfg.seed, ctx.step, ctx.uid, ctx.rollout, ctx.turn)
        backend = self.backend_for(ctx) if cfg.kind == "simulator" else None
        if real:
            return CallPlan(backend, True, None, None, None, seed, None, None)
        quality: Quality | None = None
        noise_ratio: float | None = None
        p_noisy: float | None = None
        if cfg.use_curriculum:
            if not ctx.is_train:
                quality, p_noisy = "useful", 0.0  # validation/evaluation: no injected noise
            elif cfg.curriculum.granularity == "document":
                p_noisy = noise_ratio = cfg.curriculum.prob(ctx.step)
            else:
                p_noisy = cfg.curriculum.prob(ctx.step)
                # A per-call RNG seeded from the call's seed: the draw does not depend on the order
                # in which concurrent rollouts happen to search, so a run replays exactly.
                quality = cfg.curriculum.draw_quality(random.Random(seed), ctx.step)
        hints = cfg.send_hints and ctx.is_train  # the useful prompt contains the gold answer: never at eval
        question = ctx.question if hints else None
        answer = ctx.answer if hints else None
        return CallPlan(backend, False, quality, noise_ratio, p_noisy, seed, question, answer)

    async def search(self, query: str, ctx: SearchContext) -> SearchOutcome:
        cfg = self.config
        started = time.perf_counter()
        plan = self.plan(ctx)
        outcome = SearchOutcome(text=NO_INFORMATION, ok=False, quality=None, p_noisy=None, seed=plan.seed,
                                backend=plan.backend)
        try:
            if await self.is_real(plan.backend):
                plan = self.plan(ctx, real=True)
            outcome.quality, outcome.p_noisy, outcome.noise_ratio = plan.quality, plan.p_noisy, plan.noise_ratio
            client = self._client()
            seed = None if plan.real else plan.seed
            if cfg.kind == "retrieve":
                rr = await client.retrieve(
                    [query], cfg.topk, quality=plan.quality, question=plan.question, answer=plan.answer,
                    seed=seed if cfg.use_curriculum else None, noise_ratio=plan.noise_ratio, path=cfg.retrieve_path,
                )
                docs = render_retrieve(rr, cfg.topk)
            else:
                sr = await client.search(
                    query, num=cfg.topk, quality=plan.quality, question=plan.question, answer=plan.answer,
                    seed=seed if cfg.kind == "simulator" else None, backend=plan.backend, noise_ratio=plan.noise_ratio,
                )
                outcome.search_id = sr.search_metadata.id
                docs = render_serpapi(sr, cfg.topk)
                if sr.simulation is not None and sr.simulation.labels:
                    outcome.labels = list(sr.simulation.labels[: len(docs)])
            outcome.ok = True
            outcome.documents = docs
            if docs:
                outcome.text = format_docs(docs)
        except (SearchError, httpx.HTTPError, ValueError) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            logger.warning("search failed (step %s, %s, uid %s): %r: %s", ctx.step, ctx.split, ctx.uid, query, exc)
        outcome.latency_s = time.perf_counter() - started
        self._trace(query, ctx, outcome, plan.question, plan.answer)
        return outcome

    def _trace(
        self, query: str, ctx: SearchContext, outcome: SearchOutcome, question: str | None, answer: str | None
    ) -> None:
        if not self.config.trace_path:
            return
        # The documents and a digest of the text shown to the policy: a run can be audited without
        # the simulator. `launch` tells a relaunch's lines from those of an earlier attempt.
        record: dict[str, Any] = {
            "time": time.time(), "launch": self.config.launch, "step": ctx.step, "split": ctx.split,
            "uid": ctx.uid, "rollout": ctx.rollout, "turn": ctx.turn, "query": query, "question": question,
            "answer": answer, "kind": self.config.kind, "n_docs": outcome.n_docs,
            **{k: v for k, v in asdict(outcome).items() if k != "text"},
            "digest": hashlib.sha256(outcome.text.encode()).hexdigest(),
        }
        path = Path(self.config.trace_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One write per line in append mode: lines from several worker processes do not interleave.
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
