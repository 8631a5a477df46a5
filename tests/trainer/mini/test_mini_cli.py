"""`serpsim-train mini-run`'s refusals: bad arguments are refused before any stage runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from serpsim_trainer.cli import main as cli


@pytest.mark.parametrize(("argv", "message"), [
    (["--arms", "c,x"], "unknown arms ['x']"),
    (["--arms", ","], "unknown arms []"),
    (["--seeds", "0"], "--seeds, --rl-steps and --eval-questions must be >= 1"),
    (["--rl-steps", "0"], "--seeds, --rl-steps and --eval-questions must be >= 1"),
    (["--policy", "{tmp}"], "no config.json (not a model directory)"),
    (["--sim-base", "{tmp}"], "no config.json (not a model directory)"),
])
def test_bad_arguments_are_refused_before_any_stage(argv: list[str], message: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli(["mini-run", str(out), "--profile", "ci", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
