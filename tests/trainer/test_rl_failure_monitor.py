"""The launcher's per-step search-failure bound: after each step verl logs, that step's failed share of
searches (from the agent loops' search trace) above `serpsim.max_search_failure_rate` stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serpsim_trainer.rl import FailureMonitor, SearchFailureRateError, step_search_stats


def _trace(path: Path, step: int, ok: list[bool], split: str = "train") -> None:
    with path.open("a") as fh:
        for flag in ok:
            fh.write(json.dumps({"step": step, "split": split, "ok": flag}) + "\n")


def _metrics(path: Path, step: int) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps({"step": step, "data": {"training/global_step": step, "critic/score/mean": 0.1}}) + "\n")


def test_step_stats_count_one_step_of_training_only(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    _trace(trace, 1, [True, False, True])
    _trace(trace, 2, [False])
    _trace(trace, 1, [False, False], split="test")  # validation searches do not count
    stats = step_search_stats(trace, 1)
    assert (stats.calls, stats.failures) == (3, 1)


def test_monitor_stops_after_a_bad_step(tmp_path: Path) -> None:
    trace, metrics = tmp_path / "trace.jsonl", tmp_path / "metrics.jsonl"
    monitor = FailureMonitor(metrics, trace, bound=0.25, min_calls=4)
    _trace(trace, 1, [True, True, True, False])  # 25%: at the bound, fine
    monitor.check()  # no metrics line yet: step 1 not finished, nothing checked
    assert monitor.checked_steps == []
    _metrics(metrics, 1)
    monitor.check()
    assert [s.step for s in monitor.checked_steps] == [1]
    _trace(trace, 2, [True, False, False, True])
    _metrics(metrics, 2)
    with pytest.raises(SearchFailureRateError, match="step 2: 2 of 4 searches failed"):
        monitor.check()


def test_monitor_ignores_small_steps_and_no_bound(tmp_path: Path) -> None:
    trace, metrics = tmp_path / "trace.jsonl", tmp_path / "metrics.jsonl"
    _trace(trace, 1, [False, False])
    _metrics(metrics, 1)
    FailureMonitor(metrics, trace, bound=0.1, min_calls=4).check()  # 2 calls < min_calls
    FailureMonitor(metrics, trace, bound=None, min_calls=1).check()
