"""Hugging Face transformers, in process, on CPU or GPU, with dynamic batching.

Concurrent `generate` calls put one row per prompt on a pending list; a single batching task
takes up to `max_batch_size` rows at a time and runs them through one decode loop in a worker
thread (never on the event loop). Rows that arrive while a batch runs make up the next batch.

The decode loop is our own, not `model.generate`, so that each row keeps its own sampling
settings and its own seeded `torch.Generator`: a request's text depends on its prompt, settings
and seed, not on which other requests shared its batch. Prompts are left-padded, position ids
come from the attention mask, and finished rows are dropped from the KV cache as they finish.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..settings import EngineSettings
from ._chat import eos_token_ids, prompt_token_ids
from ._revision import checkpoint_revision
from .base import Completion, EngineError, PromptTooLong, SamplingSettings

logger = logging.getLogger(__name__)

GREEDY_BELOW = 1e-5
"""Temperatures at or below this decode greedily (vLLM uses the same threshold)."""


@dataclass(eq=False)
class _Row:
    """One prompt waiting for, or inside, a batch."""

    ids: list[int]
    settings: SamplingSettings
    seed: int
    future: asyncio.Future[Completion] = field(repr=False)


@dataclass(frozen=True)
class BatchStats:
    """Counters for tests and metrics: how much batching actually happened."""

    batches: int
    rows: int
    largest_batch: int


class TransformersEngine:
    """`Engine` over `AutoModelForCausalLM`, with dynamic batching of concurrent requests."""

    kind = "transformers"

    def __init__(self, cfg: EngineSettings) -> None:
        if not cfg.model:
            raise ValueError("the transformers engine needs engine.model (a directory or hub id)")
        self._cfg = cfg
        self.model_name: str = cfg.served_model_name or cfg.model
        self.model_revision: str = cfg.model_revision or ""
        self._tokenizer: Any = None
        self._model: Any = None
        self._device: Any = None
        self._eos: set[int] = set()
        self._pad_id = 0
        self._context_len = 0
        self._pending: deque[_Row] = deque()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._batches = 0
        self._rows = 0
        self._largest = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._worker is not None:
            return
        # One thread: batches run one after another, and torch's own intra-op threads do the
        # parallel work inside each batch.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serpsim-hf")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._load)
        except Exception as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise EngineError(f"could not load model {self._cfg.model!r}: {exc}") from exc
        self._arrived = asyncio.Event()
        self._worker = asyncio.create_task(self._batch_loop(), name="serpsim-hf-batcher")

    def ready(self) -> bool:
        return self._model is not None and self._worker is not None and not self._worker.done()

    async def aclose(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
        while self._pending:
            row = self._pending.popleft()
            if not row.future.done():
                row.future.set_exception(EngineError("engine closed"))
        executor, self._executor = self._executor, None
        if executor is not None:
            # A batch may still be running in the thread: wait for it off the event loop.
            await asyncio.to_thread(executor.shutdown, wait=True)
        device = self._device
        self._model = None
        self._tokenizer = None
        if device is not None and device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    def stats(self) -> BatchStats:
        return BatchStats(batches=self._batches, rows=self._rows, largest_batch=self._largest)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = self._cfg
        if cfg.torch_threads is not None:
            # Set here, in the engine's own thread, where every decode runs: torch keeps the
            # intra-op thread count per calling thread for OpenMP.
            torch.set_num_threads(cfg.torch_threads)
        device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                              "cpu" if cfg.device == "auto" else cfg.device)
        dtype: Any
        if cfg.dtype == "auto":
            # On CPU, half precision is slow and imprecise; on GPU, keep the checkpoint's dtype.
            dtype = torch.float32 if device.type == "cpu" else "auto"
        else:
            dtype = getattr(torch, cfg.dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"unknown dtype {cfg.dtype!r}")
        tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=dtype)
        model.to(device).eval()
        self._eos = eos_token_ids(tokenizer, model.generation_config)
        if not self._eos:
            raise ValueError("model has no eos token id; generation could not stop")
        pad = tokenizer.pad_token_id
        # Padded positions are masked out, so any valid id will do when the model has no pad token.
        self._pad_id = int(pad if pad is not None else min(self._eos))
        limits = [getattr(model.config, "max_position_embeddings", None), cfg.max_model_len]
        self._context_len = min(n for n in limits if n) if any(limits) else 1 << 30
        self._device = device
        self._tokenizer = tokenizer
        self.model_revision = cfg.model_revision or checkpoint_revision(cfg.model, getattr(model.config, "_commit_hash", None))
        self._model = model
        logger.info("transformers engine: %s on %s (%s)", cfg.model, device, model.dtype)

    # -- requests --------------------------------------------------------------------------

    async def generate(
        self, prompts: Sequence[str], settings: Sequence[SamplingSettings]
    ) -> list[Completion]:
        if len(prompts) != len(settings):
            raise ValueError(f"{len(prompts)} prompts but {len(settings)} sampling settings")
        if not self.ready() or self._arrived is None:
            raise EngineError("transformers engine is not running")
        if not prompts:
            return []
        loop = asyncio.get_running_loop()
        rows = []
        for prompt, s in zip(prompts, settings):
            ids = prompt_token_ids(self._tokenizer, prompt)
            if len(ids) >= self._context_len:
                raise PromptTooLong(
                    f"prompt has {len(ids)} tokens; the context holds {self._context_len}", len(ids), self._context_len
                )
            # An unseeded request still needs a generator of its own so batch-mates stay independent.
            seed = s.seed if s.seed is not None else secrets.randbits(63)
            rows.append(_Row(ids=ids, settings=s, seed=seed, future=loop.create_future()))
        self._pending.extend(rows)
        self._arrived.set()
        try:
            return list(await asyncio.gather(*(r.future for r in rows)))
        finally:
            # A cancelled caller's rows are skipped when the next batch is formed.
            for r in rows:
                if not r.future.done():
                    r.future.cancel()

    def _take(self, batch: list[_Row]) -> None:
        limit = self._cfg.max_batch_size
        while self._pending and len(batch) < limit:
            row = self._pending.popleft()
            if not row.future.done():
                batch.append(row)

    async def _batch_loop(self) -> None:
        assert self._arrived is not None
        arrived = self._arrived
        loop = asyncio.get_running_loop()
        wait_s = self._cfg.batch_wait_ms / 1000
        while True:
            batch: list[_Row] = []
            while not batch:
                arrived.clear()
                self._take(batch)
                if not batch:
                    await arrived.wait()
            # Wait for stragglers only when requests are already arriving together; a lone
            # request with nothing else queued starts at once.
            if wait_s > 0 and 1 < len(batch) < self._cfg.max_batch_size:
                deadline = loop.time() + wait_s
                while len(batch) < self._cfg.max_batch_size and (left := deadline - loop.time()) > 0:
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), left)
                    except TimeoutError:
                        pass
                    self._take(batch)
            live = [r for r in batch if not r.future.done()]
            if not live:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, live)
            except Exception as exc:
                logger.exception("transformers batch of %d rows failed", len(live))
                for r in live:
                    if not r.future.done():
                        r.future.set_exception(EngineError(f"generation failed: {exc}"))
                continue
            for r, completion in zip(live, results):
                if not r.future.done():
                    r.future.set_result(completion)

    # -- the decode loop (worker thread) ---------------------------------------------------

    def _run_batch(self, rows: list[_Row]) -> list[Completion]:
        import torch

        with torch.inference_mode():
            out = self._decode(rows)
        self._batches += 1
        self._rows += len(rows)
        self._largest = max(self._largest, len(rows))
        return out

    def _decode(self, rows: list[_Row]) -> list[Completion]:
        import torch

        model, device = self._model, self._device
        n = len(rows)
        width = max(len(r.ids) for r in rows)
        input_ids = torch.full((n, width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r.ids):] = torch.tensor(r.ids, dtype=torch.long)
            attention[i, width - len(r.ids):] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        # Left padding: real tokens must still be numbered 0, 1, 2... for rotary embeddings.
        positions = (attention.cumsum(-1) - 1).clamp_min(0)
        generators = [torch.Generator(device=device).manual_seed(r.seed) for r in rows]
        budgets = [min(r.settings.max_tokens, self._context_len - len(r.ids)) for r in rows]
        sampled = [r.settings.temperature > GREEDY_BELOW for r in rows]
        # Per-row sampling settings as columns, kept aligned with the rows still decoding.
        temperature = torch.tensor([r.settings.temperature if sampled[i] else 1.0 for i, r in enumerate(rows)],
                                   device=device).unsqueeze(1)
        top_p = torch.tensor([r.settings.top_p for r in rows], device=device).unsqueeze(1)
        tokens: list[list[int]] = [[] for _ in rows]
        active = [i for i in range(n) if budgets[i] > 0]  # batch position -> row index
        if len(active) < n:
            keep = torch.tensor(active, device=device)
            temperature, top_p = temperature.index_select(0, keep), top_p.index_select(0, keep)
        past: Any = None
        step_ids = input_ids
        while active:
            out = model(
                input_ids=step_ids, attention_mask=attention, position_ids=positions,
                past_key_values=past, use_cache=True,
            )
            past = out.past_key_values
            logits = out.logits[:, -1, :].float()
            picked = logits.argmax(dim=-1)
            if any(sampled[i] for i in active):
                # One draw of each sampled row's own generator; the rest is batched row-wise.
                uniform = torch.stack([
                    torch.rand((), generator=generators[i], device=device) if sampled[i] else logits.new_zeros(())
                    for i in active
                ])
                drawn = _sample_rows(logits, temperature, top_p, uniform)
                mask = torch.tensor([sampled[i] for i in active], device=device)
                picked = torch.where(mask, drawn, picked)
            chosen: list[int] = []
            still: list[int] = []  # batch positions that go on decoding
            for pos, (i, tok) in enumerate(zip(active, picked.tolist())):
                tokens[i].append(tok)
                if tok not in self._eos and len(tokens[i]) < budgets[i]:
                    still.append(pos)
                    chosen.append(tok)
            if not still:
                break
            if len(still) < len(active):
                # Finished rows leave the batch (and the KV cache) so they cost nothing more.
                keep = torch.tensor(still, device=device)
                past.batch_select_indices(keep)
                attention = attention.index_select(0, keep)
                positions = positions.index_select(0, keep)
                temperature, top_p = temperature.index_select(0, keep), top_p.index_select(0, keep)
                active = [active[p] for p in still]
            step_ids = torch.tensor(chosen, dtype=torch.long, device=device).unsqueeze(1)
            attention = torch.cat([attention, attention.new_ones((attention.shape[0], 1))], dim=1)
            positions = positions[:, -1:] + 1
        completions = []
        for r, toks in zip(rows, tokens):
            text_ids = [t for t in toks if t not in self._eos]
            text = self._tokenizer.decode(text_ids, skip_special_tokens=True)
            completions.append(Completion(text=text, prompt_tokens=len(r.ids), completion_tokens=len(toks)))
        return completions


def _sample_rows(logits: Any, temperature: Any, top_p: Any, uniform: Any) -> Any:
    """One token per row by temperature + nucleus sampling, from one uniform draw per row.

    Inverse CDF: the draw picks the first token whose cumulative (kept, renormalised) mass
    passes it, as `torch.multinomial` does with one sample, without one call per row (each cost
    more than the rest of a batched step). Row-wise throughout, so a row's token depends only on
    its own logits, settings and draw, never on its batch-mates: rows with `top_p` < 1 go
    through the sorted nucleus cut, the others through their probabilities in vocabulary order,
    and which path a row takes is decided by its own `top_p` alone.
    """
    import torch

    probs = torch.softmax(logits / temperature, dim=-1)
    vocab = probs.shape[-1]
    picked = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    nucleus = (top_p < 1.0).squeeze(1)
    whole = ~nucleus
    if bool(whole.any()):
        cdf = probs[whole].cumsum(-1)
        target = (uniform[whole] * cdf[:, -1]).unsqueeze(1)
        picked[whole] = torch.searchsorted(cdf, target, right=True).clamp_max(vocab - 1).squeeze(1)
    if bool(nucleus.any()):
        sorted_probs, order = torch.sort(probs[nucleus], dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the top token is always kept).
        kept = sorted_probs * ((sorted_probs.cumsum(-1) - sorted_probs) < top_p[nucleus])
        cdf = kept.cumsum(-1)
        target = (uniform[nucleus] * cdf[:, -1]).unsqueeze(1)
        index = torch.searchsorted(cdf, target, right=True).clamp_max(vocab - 1)
        picked[nucleus] = order.gather(-1, index).squeeze(1)
    return picked
