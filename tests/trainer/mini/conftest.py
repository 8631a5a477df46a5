"""Fixtures of the miniature pipeline's tests: the CI-size world and its warmed-up policy, built
once per checkout and cached beside the other test models (the end-to-end run shares them)."""

from __future__ import annotations

from pathlib import Path

import pytest

MINI_SEED = 0


@pytest.fixture(scope="session")
def mini_world_dir() -> Path:
    """The CI-size world (`serpsim-train mini-world --size ci`); seconds to build."""
    from serpsim_trainer.mini.build import MANIFEST, write_world
    from serpsim_trainer.mini.world import SIZES

    from ...conftest import CACHE, _build_lock

    out = CACHE / "mini-world-ci"
    with _build_lock("mini-world-ci"):
        if not (out / MANIFEST).exists():
            write_world(out, SIZES["ci"], MINI_SEED, size_name="ci")
    return out


@pytest.fixture(scope="session")
def mini_policy_dir(mini_world_dir: Path) -> Path:
    """The policy warmed up on the CI world with the default settings (a few CPU minutes)."""
    from serpsim_trainer.mini.warmup import MARKER_FILE, warm_up_policy

    from ...conftest import CACHE, _build_lock

    out = CACHE / "mini-policy-ci"
    with _build_lock("mini-policy-ci"):
        if not (out / MARKER_FILE).exists():
            warm_up_policy(mini_world_dir, out)
    return out
