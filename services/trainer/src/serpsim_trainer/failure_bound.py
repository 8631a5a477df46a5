"""The run's search-failure bound: one step's searches counted, judged and reported.

A failed search is shown to the policy as ZeroSearch did ("No information available"), and each
trajectory reports its searches in `extra_fields` (`agent_loop.search_report`). verl's V1 trainer
takes every step's trajectories, from all agent-loop workers, out of its replay buffer in one
call (`ReplayBuffer.sample`) before it computes log-probs, advantages and the update. This replay
buffer (`trainer.v1.sampler.custom_sampler`, wired by `serpsim-train rl`) counts the searches of
exactly those trajectories and, when the failed share passes `serpsim.max_search_failure_rate`,
writes a report for the launcher and raises: the step's weights are never updated, its checkpoint
never written, and a relaunch resumes from the last good checkpoint. Validation batches are
checked the same way (their numbers would be meaningless).

This module is light (the launcher reads the report); the replay buffer is in `replay_buffer.py`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_REPORTED_ERRORS = 5


class SearchFailureRateExceeded(RuntimeError):
    """Too many of one step's searches failed (the backend is down, a URL or key is wrong)."""


@dataclass
class StepSearches:
    """One step's searches, over all of its trajectories."""

    step: int
    partition: str
    trajectories: int = 0
    calls: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    launch: str | None = None
    bound: float | None = None

    @property
    def rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def exceeded(self) -> bool:
        return self.bound is not None and self.calls > 0 and self.rate > self.bound

    def message(self) -> str:
        what = f"step {self.step}" if self.partition == "train" else f"validation at step {self.step}"
        bound = f"{self.bound:.0%}" if self.bound is not None else "none"
        errors = "; ".join(self.errors) or "none recorded"
        return (f"{what}: {self.failures} of {self.calls} searches failed ({self.rate:.0%}), above "
                f"serpsim.max_search_failure_rate={bound}; first errors: {errors}. The step was not trained "
                "and no checkpoint of it was written: check the search backend (simulator /readyz, URL, API "
                "key), then relaunch to resume from the last checkpoint.")

    def add(self, extra_fields: dict[str, Any]) -> None:
        self.trajectories += 1
        self.calls += int(extra_fields.get("search_calls") or 0)
        self.failures += int(extra_fields.get("search_failures") or 0)
        for error in extra_fields.get("search_errors") or []:
            if len(self.errors) < MAX_REPORTED_ERRORS and error not in self.errors:
                self.errors.append(str(error))


def count_searches(extra_fields: list[Any], step: int, partition: str, bound: float | None,
                   launch: str | None = None) -> StepSearches:
    count = StepSearches(step=step, partition=partition, bound=bound, launch=launch)
    for fields in extra_fields:
        count.add(fields if isinstance(fields, dict) else {})
    return count


def write_report(path: str | Path, count: StepSearches) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**asdict(count), "rate": count.rate, "message": count.message()}, indent=2) + "\n")


def read_report(path: str | Path, launch: str | None) -> StepSearches | None:
    """The report of launch `launch`, or None (no report, or one left by an earlier launch)."""
    path = Path(path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("launch") != launch:
        return None
    return StepSearches(**{k: data[k] for k in StepSearches.__dataclass_fields__ if k in data})
