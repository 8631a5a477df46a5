"""A verl 0.9.1 "cpu" platform, so verl's real trainer (vLLM-CPU rollout, FSDP2 over gloo) runs on
machines without an accelerator: CI and developer laptops. GPU runs never load this module.

**Importing this module registers the platform and patches one verl function: that side effect is
its purpose.** verl imports it in every process (driver, Ray actors) when
`VERL_USE_EXTERNAL_MODULES` names it (`serpsim-train rl --cpu` sets that, plus `VERL_PLATFORM=cpu`).

What verl 0.9.1 lacks on CPU, and what this module does about it (reference/verl_cpu_training.md):
- no CPU platform: detection falls back to "nvidia" (device "cuda", backend "nccl"). `PlatformCPU`
  answers device "cpu", backend "gloo", and `current_device() == "cpu"`, because FSDP2 and the
  state-dict loader call `.to(get_device_id())`.
- Ray placement only counts GPU/NPU resources: the platform keeps Ray's "GPU" resource name and the
  launcher starts Ray with a fake `num_gpus`.
- `initialize_global_process_group_ray()` builds "cpu:gloo,cpu:gloo", which torch rejects: the
  patch below makes its default backend plain "gloo".
- the reference model (forward only) is sharded with FSDP2's `CPUOffloadPolicy(pin_memory=True)`;
  pinning needs an accelerator. On a CPU host there is nothing to pin for, so in these processes the
  policy class ignores `pin_memory` (the KL loss against the reference model then runs on CPU).
- vLLM-CPU repacks every linear layer's weight for oneDNN after loading and drops the original
  parameter, so verl's weight sync (`model.load_weights`) finds no `weight_loader`, and a packed copy
  would go stale anyway. An import hook makes vLLM's CPU GEMM dispatch keep plain weights and
  `torch.nn.functional.linear` (slower, irrelevant for test-sized models) in the rollout workers.
- the PPO critic's value-head model is loaded with a hard-coded `attn_implementation=
  "flash_attention_2"` (ignoring `override_config`); here it is loaded with "sdpa".
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import verl.utils.distributed as verl_distributed
from verl.plugin.platform import PlatformBase, PlatformRegistry

logger = logging.getLogger(__name__)

PLATFORM_NAME = "cpu"
# Rough numbers reported to code that sizes buffers from free accelerator memory.
_FAKE_FREE_BYTES = 16 << 30
_FAKE_TOTAL_BYTES = 24 << 30


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


class CPUDeviceModule(types.ModuleType):
    """Stands in for `torch.cuda` where verl calls `get_torch_device().<fn>()`: real `torch.cpu`
    functions where they exist, harmless answers (no memory in use, one device) for the rest."""

    _FALLBACKS: dict[str, Callable[..., Any]] = {  # noqa: RUF012 - an immutable-by-convention table of functions
        "is_available": lambda: True,
        "device_count": lambda: 1,
        "current_device": lambda: 0,
        "set_device": _noop,
        "empty_cache": _noop,
        "synchronize": _noop,
        "ipc_collect": _noop,
        "reset_peak_memory_stats": _noop,
        "manual_seed": torch.manual_seed,
        "manual_seed_all": torch.manual_seed,
        "memory_allocated": _zero,
        "memory_reserved": _zero,
        "max_memory_allocated": _zero,
        "max_memory_reserved": _zero,
        "memory_stats": lambda *a, **k: {},
        "mem_get_info": lambda *a, **k: (_FAKE_FREE_BYTES, _FAKE_TOTAL_BYTES),
        "get_rng_state": torch.get_rng_state,
        "set_rng_state": torch.set_rng_state,
        "get_device_name": lambda *a, **k: "cpu",
        "is_bf16_supported": lambda *a, **k: True,
    }

    def __init__(self) -> None:
        super().__init__("serpsim_cpu_device")

    def __getattr__(self, name: str) -> Any:
        if hasattr(torch.cpu, name):
            return getattr(torch.cpu, name)
        if name in self._FALLBACKS:
            return self._FALLBACKS[name]
        raise AttributeError(f"the CPU device shim has no {name!r}")


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """verl's platform interface answered for a host with no accelerator."""

    def __init__(self) -> None:
        super().__init__()
        self._device_module = CPUDeviceModule()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Only when asked for: auto-detection on a GPU host must never pick this platform.
        return os.environ.get("VERL_PLATFORM") == PLATFORM_NAME

    def current_device(self) -> str:
        # FSDP2 and verl's state-dict loader do `.to(get_device_id())`; the index 0 means cuda:0.
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: Any) -> None:
        return None

    def synchronize(self, device_index: Any = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: Any) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[None, None]:
        return (None, None)

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str) -> Iterator[None]:
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    # Ray's "GPU" resource is kept so verl's placement groups work; the launcher gives Ray fake GPUs.
    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, float]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> None:
        return None


def _patch_process_group_backend() -> None:
    """verl builds the backend string f"cpu:gloo,{device}:{backend}", i.e. "cpu:gloo,cpu:gloo" here,
    which torch rejects as a duplicate device type. Default the backend to plain "gloo" instead."""
    original = verl_distributed.initialize_global_process_group_ray
    if getattr(original, "_serpsim_cpu_patch", False):
        return

    def initialize_global_process_group_ray(timeout_second: Any = None, backend: str | None = None) -> Any:
        return original(timeout_second=timeout_second, backend=backend or "gloo")

    initialize_global_process_group_ray._serpsim_cpu_patch = True  # type: ignore[attr-defined]
    verl_distributed.initialize_global_process_group_ray = initialize_global_process_group_ray


class UnpinnedCPUOffloadPolicy(torch.distributed.fsdp.CPUOffloadPolicy):
    """FSDP2's CPU offload policy with `pin_memory` forced off (pinning needs an accelerator)."""

    def __init__(self, pin_memory: bool = False) -> None:
        super().__init__(pin_memory=False)


def _patch_cpu_offload_policy() -> None:
    """Make every `CPUOffloadPolicy(...)` verl builds unpinned: rebind the name where verl imports it
    from (torch), and in verl's modules that may already hold it."""
    import torch.distributed._composable.fsdp as composable_fsdp
    import torch.distributed.fsdp as torch_fsdp

    for module in (torch_fsdp, composable_fsdp):
        module.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy  # type: ignore[misc]
    for name in ("verl.utils.fsdp_utils", "verl.workers.engine.fsdp.transformer_impl"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "CPUOffloadPolicy", None) is not None:
            module.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy  # type: ignore[attr-defined]


VLLM_GEMM_MODULE = "vllm.model_executor.layers.utils"


def _plain_cpu_gemm(layer: torch.nn.Module, remove_weight: bool) -> None:
    """vLLM's CPU GEMM dispatch, minus the weight repacking: the layer keeps its own weight."""
    layer.cpu_linear = torch.nn.functional.linear


def _patch_vllm_gemm_module(module: types.ModuleType) -> None:
    original = module.dispatch_cpu_unquantized_gemm

    def dispatch_cpu_unquantized_gemm(layer: torch.nn.Module, remove_weight: bool) -> None:
        weight = getattr(layer, "weight", None)
        if weight is None or weight.is_meta or weight.ndim != 2:
            return original(layer, remove_weight)  # MoE/conv weights: vLLM's own handling
        return _plain_cpu_gemm(layer, remove_weight)

    module.dispatch_cpu_unquantized_gemm = dispatch_cpu_unquantized_gemm


class _PatchOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Patches `VLLM_GEMM_MODULE` right after it is first executed, so processes that never load vLLM
    (the trainer's FSDP workers, the driver) do not pay for importing it."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if fullname != VLLM_GEMM_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)  # type: ignore[attr-defined]

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)  # type: ignore[attr-defined]
        _patch_vllm_gemm_module(module)


def _patch_vllm_cpu_gemm() -> None:
    loaded = sys.modules.get(VLLM_GEMM_MODULE)
    if loaded is not None:
        _patch_vllm_gemm_module(loaded)
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def _load_valuehead_model_sdpa(local_path: str, torch_dtype: Any, model_config: Any, trust_remote_code: bool) -> Any:
    """verl's `load_valuehead_model` for a token-classification critic, with SDPA attention."""
    from transformers import AutoModelForTokenClassification

    return AutoModelForTokenClassification.from_pretrained(
        local_path, dtype=torch_dtype, config=model_config, attn_implementation="sdpa",
        trust_remote_code=trust_remote_code,
    )


def _patch_valuehead_loader() -> None:
    import verl.utils.model as verl_model

    verl_model.load_valuehead_model = _load_valuehead_model_sdpa


_patch_process_group_backend()
_patch_cpu_offload_policy()
_patch_vllm_cpu_gemm()
_patch_valuehead_loader()
