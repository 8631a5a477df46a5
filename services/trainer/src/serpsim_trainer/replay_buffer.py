"""`FailureBoundReplayBuffer`: verl 0.9.1's sync V1 replay buffer with the run's search-failure bound
(`failure_bound`). `serpsim-train rl` selects it through `trainer.v1.sampler.custom_sampler`."""

from __future__ import annotations

import logging
from typing import Any

import transfer_queue as tq
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from .failure_bound import SearchFailureRateExceeded, count_searches, write_report

logger = logging.getLogger(__name__)


class FailureBoundReplayBuffer(ReplayBuffer):
    """verl's sync replay buffer plus the failure bound. `sampler_kwargs`: `max_failure_rate`
    (None: count and log only), `report_path`, `launch`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = dict(self.sampler_kwargs or {})
        bound = options.get("max_failure_rate")
        self.max_failure_rate = float(bound) if bound is not None else None
        self.report_path = options.get("report_path")
        self.launch = options.get("launch")

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[Any, dict]:
        batch, metrics = super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        count = count_searches(data.pop("extra_fields").tolist(), global_steps, partition_id,
                               self.max_failure_rate, self.launch)
        metrics.update({"search/calls": count.calls, "search/failures": count.failures,
                        "search/failure_rate": count.rate})
        logger.info("step %d (%s): %d searches, %d failed", global_steps, partition_id, count.calls, count.failures)
        if count.exceeded:
            if self.report_path:
                write_report(self.report_path, count)
            raise SearchFailureRateExceeded(count.message())
        return batch, metrics
