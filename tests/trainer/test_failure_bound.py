"""The per-step search-failure bound's arithmetic and report (the end-to-end check, verl's trainer
stopping a step before its update, is in test_rl_cpu_training.py)."""

from __future__ import annotations

from pathlib import Path

from serpsim_trainer.failure_bound import count_searches, read_report, write_report


def test_one_step_counts_all_its_trajectories() -> None:
    fields = [
        {"search_calls": 2, "search_failures": 2, "search_errors": ["SearchTimeout: 30 s", "SearchTimeout: 30 s"]},
        {"search_calls": 3, "search_failures": 0, "search_errors": []},
        {"search_calls": 0},
        {"search_calls": 5, "search_failures": 1, "search_errors": ["SearchHTTPError: 503"]},
    ]
    count = count_searches(fields, step=12, partition="train", bound=0.25)
    assert (count.trajectories, count.calls, count.failures) == (4, 10, 3)
    assert count.exceeded  # 30% > 25%
    message = count.message()
    assert message.startswith("step 12: 3 of 10 searches failed (30%), above serpsim.max_search_failure_rate=25%")
    assert "first errors: SearchTimeout: 30 s; SearchHTTPError: 503" in message
    assert not count_searches(fields, step=12, partition="train", bound=0.3).exceeded  # at the bound: fine
    assert not count_searches(fields, step=12, partition="train", bound=None).exceeded
    assert not count_searches([{"search_calls": 0}], step=1, partition="train", bound=0.0).exceeded
    assert count_searches(fields, step=4, partition="val", bound=0.1).message().startswith("validation at step 4:")


def test_a_report_belongs_to_its_launch(tmp_path: Path) -> None:
    """A relaunch must not be blamed for the report an earlier, failed launch left behind."""
    path = tmp_path / "search_failure.json"
    write_report(path, count_searches([{"search_calls": 4, "search_failures": 4}], 3, "train", 0.2, launch="a"))
    assert read_report(path, "b") is None
    report = read_report(path, "a")
    assert report is not None and (report.step, report.calls, report.failures, report.rate) == (3, 4, 4, 1.0)
    assert read_report(tmp_path / "missing.json", "a") is None
