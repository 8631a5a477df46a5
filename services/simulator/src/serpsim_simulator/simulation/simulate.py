"""The simulator proper: simulation requests -> prompts -> one engine batch -> documents.

Knows nothing of HTTP or of search queries: the simulated backend (backend.py) turns each
`SearchQuery` into one `SimRequest` (or two, a useful and a noisy part, when it mixes noise per
document) and calls `Simulator.simulate` once per batch.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from serpsim_protocol import Quality
from serpsim_protocol.prompts import DOCS_PER_GENERATION, build_prompt, generations_for

from ..engines.base import Completion, Engine, EngineError, PromptTooLong, SamplingSettings
from ..errors import EngineBadOutput, EngineFailed, EngineUnavailable, InvalidParameter
from ..settings import PromptMode, SimulationSettings
from .admission import Admission
from .documents import Document, parse_documents

logger = logging.getLogger(__name__)

ENGINE_FAILED = "The simulation engine failed. Please try again later."
PROMPT_TOO_LONG = (
    "The simulation prompt is longer than the model's context: shorten the query, the question or the answer."
)


@dataclass(frozen=True)
class SimRequest:
    query: str
    quality: Quality = "useful"
    question: str | None = None
    answer: str | None = None
    num: int = DOCS_PER_GENERATION
    seed: int | None = None
    page: int = 0


@dataclass
class SimResult:
    request: SimRequest
    documents: list[Document]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generations: int = 0
    engine_seconds: float = 0.0
    raw_texts: list[str] = field(default_factory=list)


def derive_seed(seed: int, page: int, generation: int) -> int:
    """A distinct, reproducible seed for each generation of each page of one request."""
    if page == 0 and generation == 0:
        return seed
    digest = hashlib.sha256(f"{seed}:{page}:{generation}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class Simulator:
    def __init__(self, engine: Engine, settings: SimulationSettings, admission: Admission | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.admission = admission

    @property
    def prompt_mode(self) -> PromptMode:
        return self.settings.prompt_mode

    def _sampling(self, seed: int | None) -> SamplingSettings:
        s = self.settings
        return SamplingSettings(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=seed)

    async def simulate(self, requests: Sequence[SimRequest]) -> list[SimResult]:
        """All generations of all requests go to the engine as one batch.

        The templates always ask for five documents: `num` below five truncates, above five
        runs ceil(num/5) generations with derived seeds.
        """
        if not self.engine.ready():
            raise EngineUnavailable("The simulation engine is not ready yet. Try again shortly.")
        prompts: list[str] = []
        sampling: list[SamplingSettings] = []
        owners: list[int] = []
        for index, req in enumerate(requests):
            # Unseeded requests still get distinct seeds per generation, so their pages differ.
            base_seed = req.seed if req.seed is not None else secrets.randbits(31)
            prompt = build_prompt(req.query, req.quality, self.prompt_mode, req.question, req.answer)
            for generation in range(generations_for(req.num)):
                prompts.append(prompt)
                sampling.append(self._sampling(derive_seed(base_seed, req.page, generation)))
                owners.append(index)
        if self.admission is None:
            return await self._generate(requests, prompts, sampling, owners)
        async with self.admission.slot(len(prompts)):
            return await self._generate(requests, prompts, sampling, owners)

    async def _generate(
        self, requests: Sequence[SimRequest], prompts: list[str], sampling: list[SamplingSettings], owners: list[int]
    ) -> list[SimResult]:
        started = time.perf_counter()
        try:
            completions = await self.engine.generate(prompts, sampling)
        except PromptTooLong as exc:
            logger.info("prompt refused by the engine: %s", exc)
            raise InvalidParameter(PROMPT_TOO_LONG) from exc
        except EngineError as exc:
            # The cause may name upstream replicas or quote their answers: the log gets it, the client does not.
            logger.warning("engine call failed: %s", exc)
            raise EngineFailed(ENGINE_FAILED) from exc
        except Exception as exc:  # a buggy engine must cost one request a 502, never the server
            logger.exception("engine call raised %s", type(exc).__name__)
            raise EngineBadOutput(f"The simulation engine failed unexpectedly: {type(exc).__name__}.") from exc
        elapsed = time.perf_counter() - started
        if not isinstance(completions, list) or len(completions) != len(prompts):
            raise EngineBadOutput("The simulation engine returned the wrong number of completions.")
        try:
            return self._collect(requests, owners, completions, elapsed)
        except Exception as exc:  # garbage in place of completions: the engine's fault, not the client's
            raise EngineBadOutput("The simulation engine returned unusable output.") from exc

    @staticmethod
    def _collect(
        requests: Sequence[SimRequest], owners: list[int], completions: list[Completion], elapsed: float
    ) -> list[SimResult]:
        results = [SimResult(request=req, documents=[]) for req in requests]
        share = elapsed / max(1, len(completions))
        for owner, completion in zip(owners, completions):
            result = results[owner]
            result.prompt_tokens += completion.prompt_tokens
            result.completion_tokens += completion.completion_tokens
            result.generations += 1
            result.engine_seconds += share
            result.raw_texts.append(completion.text)
            known = {doc.snippet for doc in result.documents}
            for doc in parse_documents(completion.text, query=result.request.query, limit=DOCS_PER_GENERATION):
                if doc.snippet not in known:
                    result.documents.append(doc)
                    known.add(doc.snippet)
        for result in results:
            del result.documents[result.request.num :]
        return results
