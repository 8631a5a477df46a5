"""Turn a verl FSDP checkpoint into a Hugging Face model directory, with verl's own model merger.

Accepts any level of a run's checkpoint tree: the run directory, its `checkpoints/`, one
`global_step_N/`, or `global_step_N/actor/`. Above `global_step_N`, the newest step is taken
(verl's `latest_checkpointed_iteration.txt` when present).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

_STEP_RE = re.compile(r"^global_step_(\d+)$")


class CheckpointNotFound(FileNotFoundError):
    """No verl actor checkpoint under the given directory."""


def find_actor_dir(path: Path) -> Path:
    """The `global_step_N/actor` directory (with its `huggingface/` config) that `path` designates."""
    path = Path(path)
    if (path / "huggingface").is_dir() and any(path.glob("model_world_size_*")):
        return path
    if (path / "actor").is_dir():
        return find_actor_dir(path / "actor")
    if (path / "checkpoints").is_dir():
        return find_actor_dir(path / "checkpoints")
    latest = path / "latest_checkpointed_iteration.txt"
    if latest.is_file():
        step_dir = path / f"global_step_{latest.read_text().strip()}"
        if step_dir.is_dir():
            return find_actor_dir(step_dir)
    steps = sorted((int(m.group(1)), p) for p in path.glob("global_step_*") if (m := _STEP_RE.match(p.name)))
    if steps:
        return find_actor_dir(steps[-1][1])
    raise CheckpointNotFound(f"no verl FSDP actor checkpoint (global_step_N/actor with model shards) under {path}")


def export_checkpoint(checkpoint: Path, out_dir: Path) -> Path:
    """Merge the FSDP shards of `checkpoint` into a Hugging Face model + tokenizer in `out_dir`."""
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    actor_dir = find_actor_dir(checkpoint)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = ModelMergerConfig(
        operation="merge",
        backend="fsdp",
        local_dir=str(actor_dir),
        target_dir=str(out_dir),
        hf_model_config_path=str(actor_dir / "huggingface"),
    )
    logger.info("merging %s -> %s", actor_dir, out_dir)
    merger = FSDPModelMerger(config)
    try:
        merger.merge_and_save()
    finally:
        merger.cleanup()
    return out_dir
