"""`serpsim-train plot`: reward curves from verl's metrics files (written here by verl's own file
logger, rotated as `serpsim-train rl` rotates them on a relaunch) and p(noisy) from the search trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serpsim_trainer.cli import main as cli
from serpsim_trainer.curriculum import noisy_prob
from serpsim_trainer.plot import read_run

TOTAL = 4


def _log(run_dir: Path, steps: dict[int, float], monkeypatch: pytest.MonkeyPatch, *, validation_at: int | None = None,
         ) -> None:
    """One launch's metrics through verl's `FileLogger`, as verl's trainer logs a step."""
    from verl.utils.tracking import FileLogger

    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(run_dir / "metrics.jsonl"))
    logger = FileLogger("serpsim", "mini")
    for step, score in steps.items():
        if step == validation_at:  # a validation-only line carries no training reward
            logger.log({"val-core/mini/reward/mean@1": 0.9}, step=step)
        logger.log({"training/global_step": step, "critic/score/mean": score, "actor/grad_norm": 0.5}, step=step)
    logger.finish()


def _relaunch(run_dir: Path) -> None:
    """What `serpsim-train rl` does before a relaunch: keep the previous metrics as metrics.N.jsonl."""
    n = 1
    while (run_dir / f"metrics.{n}.jsonl").exists():
        n += 1
    (run_dir / "metrics.jsonl").rename(run_dir / f"metrics.{n}.jsonl")


def _trace(run_dir: Path, steps: range) -> None:
    lines = []
    for step in steps:
        p = noisy_prob(step, TOTAL)
        lines += [{"step": step, "split": "train", "p_noisy": p, "quality": "useful", "documents": ["d"]}] * 2
        lines.append({"step": step, "split": "test", "p_noisy": 0.0})  # validation: never noisy, not plotted
    (run_dir / "search_trace.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_curves_across_relaunches_with_curriculum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    sim, corpus = tmp_path / "sim", tmp_path / "corpus"
    sim.mkdir()
    corpus.mkdir()
    _log(sim, {1: 0.10, 2: 0.20}, monkeypatch, validation_at=2)
    _relaunch(sim)
    _log(sim, {3: 0.30}, monkeypatch)  # a launch that logged one step, then stopped
    _relaunch(sim)
    _log(sim, {3: 0.35, 4: 0.40}, monkeypatch)  # step 3 retrained after a resume: its latest value counts
    _trace(sim, range(1, TOTAL + 1))
    _log(corpus, {1: 0.05, 2: 0.15, 3: 0.25, 4: 0.30}, monkeypatch)
    # A launch killed mid-write leaves a partial last line: skipped.
    with (corpus / "metrics.jsonl").open("a") as fh:
        fh.write('{"step": 5, "data": {"critic/sc')

    run = read_run(sim)
    assert run.reward == {1: 0.10, 2: 0.20, 3: 0.35, 4: 0.40}
    assert run.p_noisy == {s: noisy_prob(s, TOTAL) for s in range(1, TOTAL + 1)} and run.p_noisy[TOTAL] == 0.5
    assert read_run(corpus).reward == {1: 0.05, 2: 0.15, 3: 0.25, 4: 0.30} and read_run(corpus).p_noisy == {}

    out = tmp_path / "plots" / "reward.png"
    assert cli(["plot", str(sim), str(corpus), "--out", str(out), "--label", "simulator", "--label", "corpus"]) == 0
    printed = capsys.readouterr().out
    assert "simulator: steps 1-4, critic/score/mean 0.100 -> 0.400, p(noisy) 0.069 -> 0.500" in printed
    assert "corpus: steps 1-4, critic/score/mean 0.050 -> 0.300\n" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (540, 960) and image[..., :3].min() < 0.5  # something was drawn


def test_bad_run_directories_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.png"
    assert cli(["plot", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no such run directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["plot", str(empty), "--out", str(out)]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    _log(broken, {1: 0.1}, monkeypatch)
    text = (broken / "metrics.jsonl").read_text()
    (broken / "metrics.jsonl").write_text("garbage\n" + text)
    assert cli(["plot", str(broken), "--out", str(out)]) == 2
    assert "metrics.jsonl:1: not a JSON line" in capsys.readouterr().err
    assert cli(["plot", str(broken), str(empty), "--out", str(out), "--label", "one"]) == 2
    assert "1 --label for 2 run directories" in capsys.readouterr().err
    assert cli(["plot", str(empty.parent / "broken"), "--out", str(out), "--metric", "no/such"]) == 2
    assert not out.exists()
