"""The pipeline end to end on CPU: a synthetic knowledge base's search records -> the rule judge ->
build-sft -> sft-sim (TRL) on the tiny simulation model -> the real simulator serving the tuned
model -> eval-sim. On facts it was tuned on, `useful` must contain the answer far more often than
`noisy`, in well-formed result lists; on held-out facts the figures are reported, not asserted
(a ~1M-parameter model memorises facts; it does not learn to copy the hint's answer in minutes).

The collection step against the `corpus` backend joins this test when that backend lands; until
then the records are written here as `collect` writes them (test_collect.py covers `collect`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serpsim_trainer.reward import normalize_answer

from ..conftest import serve_simulator, write_tool_config
from .conftest import cli, kb_records, write_records

pytestmark = pytest.mark.heavy

LANDMARKS = 24  # 72 questions, 144 search records
MIN_TUNED_TRIPLES = 60


@pytest.fixture
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One intra-op thread for the fine-tune here and the simulator it starts: a ~1M-parameter
    model gains nothing from more, and on a busy 2-core machine waiting threads cost many times over."""
    import torch

    monkeypatch.setenv("SERPSIM_ENGINE__TORCH_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pipeline_tunes_a_controllable_simulator(
    tiny_model_dir: Path, tmp_path: Path, one_torch_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    searches = write_records(tmp_path / "searches.jsonl", kb_records(LANDMARKS))
    judged, sft = tmp_path / "judged.jsonl", tmp_path / "sft"
    assert cli("judge", "--records", str(searches), "--out", str(judged), "--no-progress") == 0
    assert Counter(r["label"] for r in _lines(judged)) == {"useful": 72, "noisy": 72}
    assert cli("build-sft", "--judged", str(judged), "--out", str(sft), "--eval-fraction", "0.2") == 0
    tuned_questions = {normalize_answer(r["question"]) for r in _lines(sft / "sft_train.jsonl")}
    held = _lines(sft / "triples_eval.jsonl")
    assert held and not {normalize_answer(t["question"]) for t in held} & tuned_questions
    capsys.readouterr()

    model = tmp_path / "tuned"
    assert cli("sft-sim", "--model", str(tiny_model_dir), "--data", str(sft / "sft_train.jsonl"), "--out", str(model),
               "--lr", "3e-3", "--batch-size", "8", "--max-steps", "400", "--device", "cpu",
               "--no-gradient-checkpointing", "--logging-steps", "100", "--no-progress") == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.rindex('{\n  "train_loss"'):])["steps"] == 400

    with serve_simulator(model, tmp_path / "serve.log") as url:
        reference = write_tool_config(tmp_path / "reference.yaml", url=url)
        assert cli("eval-sim", "--simulator", url, "--triples", str(sft / "triples_train.jsonl"),
                   "--max-triples", str(MIN_TUNED_TRIPLES), "--out", str(tmp_path / "tuned_eval"),
                   "--reference-backend", str(reference), "--no-progress") == 0
        assert cli("eval-sim", "--simulator", url, "--triples", str(sft / "triples_eval.jsonl"),
                   "--out", str(tmp_path / "held_eval"), "--no-progress") == 0
    capsys.readouterr()

    report = json.loads((tmp_path / "tuned_eval" / "eval_sim.json").read_text())
    modes = report["modes"]
    assert set(modes) == {"useful", "noisy", "reference"}
    assert all(modes[m]["requests"] == MIN_TUNED_TRIPLES and modes[m]["errors"] == 0 for m in modes)
    assert modes["useful"]["five_documents"] >= 0.8 and modes["noisy"]["five_documents"] >= 0.8
    assert report["controllability_gap"] >= 0.3
    assert report["controllability_gap"] == pytest.approx(modes["useful"]["containment"] - modes["noisy"]["containment"])
    samples = _lines(tmp_path / "tuned_eval" / "samples.jsonl")
    assert Counter(s["mode"] for s in samples) == {m: MIN_TUNED_TRIPLES for m in modes}
    assert {normalize_answer(s["question"]) for s in samples} <= tuned_questions
    table = (tmp_path / "tuned_eval" / "eval_sim.md").read_text()
    assert table.startswith("| metric | useful | noisy | reference |") and "Controllability gap" in table
    assert (tmp_path / "tuned_eval" / "eval_sim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    held_report = json.loads((tmp_path / "held_eval" / "eval_sim.json").read_text())
    with capsys.disabled():
        for name, r in (("tuned facts", report), ("held-out facts", held_report)):
            m = r["modes"]
            print(f"\neval-sim on {name} ({m['useful']['requests']} triples): containment useful "
                  f"{m['useful']['containment']:.3f} noisy {m['noisy']['containment']:.3f} gap "
                  f"{r['controllability_gap']:+.3f}; 5 documents {m['useful']['five_documents']:.3f} / "
                  f"{m['noisy']['five_documents']:.3f}")
