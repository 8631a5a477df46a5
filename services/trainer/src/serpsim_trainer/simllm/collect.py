"""`collect`: a policy answers training questions against a real search backend; every search call
becomes one `SearchRecord` (ZeroSearch issue #19: "the model generates multiple subqueries, which
are used to retrieve relevant documents ... these subquery-document pairs ... form the simulation
tuning dataset").

The episode is the trainer's own (`evaluate.run_episode`: the same tag protocol, `Searcher` and
turn rules as RL and `eval`), searched as the evaluation split does: no gold answer and no
injected noise go to the backend. Output directory:

- `searches.jsonl`: one record per successful search call that returned documents;
- `episodes.jsonl`: one line per finished question (final answer, searches, error if any).

Resumable: a question with a finished episode (or written searches) is skipped, so re-running
after a crash or a deadline continues where it stopped; a failed episode is tried again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evaluate import Episode, Policy, run_episode
from ..reward import score_prediction
from ..search import AgentSettings, Searcher
from .records import Question, SearchRecord

logger = logging.getLogger(__name__)

SEARCHES_FILE = "searches.jsonl"
EPISODES_FILE = "episodes.jsonl"


@dataclass
class CollectStats:
    questions: int = 0
    episodes: int = 0
    errors: int = 0
    timeouts: int = 0
    searches: int = 0
    failed_searches: int = 0
    empty_searches: int = 0
    first_error: str | None = None


def _repair_tail(path: Path) -> None:
    """Drop a half-written last line (a crash mid-write), so the file stays valid JSONL."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        logger.warning("%s: dropping a half-written last line (%d bytes)", path, len(data) - cut)
        with path.open("r+b") as fh:
            fh.truncate(cut)


def finished_ids(out_dir: Path) -> set[str]:
    """Trajectory ids already collected: episodes without an error, and any with written searches."""
    done: set[str] = set()
    for name in (EPISODES_FILE, SEARCHES_FILE):
        path = out_dir / name
        _repair_tail(path)
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc}); fix or move the file to start over") from exc
                if name == SEARCHES_FILE or not row.get("error"):
                    done.add(str(row["trajectory_id"]))
    return done


async def play(policy: Policy, searcher: Searcher, question: Question, agent: AgentSettings) -> Episode:
    """The one call into the trainer's turn protocol."""
    return await run_episode(policy, searcher, question.question, answers=question.answers, uid=question.id,
                             agent=agent)


def records_of(question: Question, episode: Episode, backend: str) -> tuple[list[SearchRecord], int]:
    """The episode's successful searches as records, and how many searches returned no document."""
    records, empty = [], 0
    for turn_index, turn in enumerate(episode.turns):
        # Turn records of the one turn protocol (`evaluate._turn_record`): the documents as a list.
        if turn["action"] != "search" or not turn.get("search_ok"):
            continue
        docs = list(turn.get("documents") or [])
        if not docs:
            empty += 1
            continue
        records.append(SearchRecord(
            trajectory_id=question.id, question=question.question, answers=question.answers, query=turn["content"],
            documents=docs, final_answer=episode.prediction, turn=turn_index, backend=backend,
        ))
    return records, empty


def _append(path: Path, lines: Sequence[dict[str, Any]]) -> None:
    if not lines:
        return
    # One write per episode: a crash leaves at most one half line, which `_repair_tail` drops.
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def pending(questions: Sequence[Question], out_dir: Path) -> list[Question]:
    """The questions of `questions` that `out_dir` does not hold yet (creates `out_dir`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = finished_ids(out_dir)
    return [q for q in questions if q.id not in done]


async def collect(
    todo: Sequence[Question],
    policy: Policy,
    searcher: Searcher,
    out_dir: Path,
    *,
    agent: AgentSettings | None = None,
    concurrency: int = 8,
    deadline_s: float = 300.0,
    progress: bool = True,
) -> CollectStats:
    """Play every question of `todo` (see `pending`), `concurrency` at a time, each within
    `deadline_s`; append its search records and its episode line to `out_dir`."""
    from tqdm.auto import tqdm

    if concurrency < 1 or deadline_s <= 0:
        raise ValueError("concurrency must be >= 1 and the episode deadline > 0")
    agent = agent or AgentSettings()
    stats = CollectStats(questions=len(todo))
    backend = searcher.config.kind
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(todo), desc="collect", unit="q", disable=not progress)

    async def one(question: Question) -> None:
        async with gate:
            started = time.perf_counter()
            line: dict[str, Any] = {"trajectory_id": question.id, "question": question.question,
                                    "answers": question.answers}
            try:
                episode = await asyncio.wait_for(play(policy, searcher, question, agent), deadline_s)
            except Exception as exc:  # one broken episode must not end a long collection
                timeout = isinstance(exc, TimeoutError)
                error = f"deadline of {deadline_s:g}s passed" if timeout else f"{type(exc).__name__}: {exc}"
                stats.errors += 1
                stats.timeouts += timeout
                stats.first_error = stats.first_error or error
                logger.warning("collect: %s (%r) failed: %s", question.id, question.question, error)
                line["error"] = error
            else:
                records, empty = records_of(question, episode, backend)
                stats.episodes += 1
                stats.searches += len(records)
                stats.failed_searches += episode.search_failures
                stats.empty_searches += empty
                _append(out_dir / SEARCHES_FILE, [r.model_dump(mode="json") for r in records])
                line.update(final_answer=episode.prediction, searches=episode.searches,
                            search_failures=episode.search_failures,
                            em=score_prediction(episode.prediction, question.answers)["em"])
            line["seconds"] = round(time.perf_counter() - started, 3)
            _append(out_dir / EPISODES_FILE, [line])
            bar.update(1)

    try:
        await asyncio.gather(*(one(q) for q in todo))
    finally:
        bar.close()
    return stats

