"""`eval-sim`'s figures on hand-made samples, and its errors for bad input (the served-model run is
in test_pipeline.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serpsim_trainer.simllm.evaluate import Sample, mode_metrics, summarize
from serpsim_trainer.simllm.report import markdown

from ..conftest import write_tool_config
from .conftest import cli

FIVE = ["Doc one about the tower.", "Doc two about the bridge.", "Doc three about the river.",
        "Doc four about the lake.", "Doc five about the canal."]


def test_metrics_count_failed_requests_as_invalid_format() -> None:
    samples = [
        Sample(triple=0, mode="useful", documents=FIVE, results=5, contains=True, latency_s=0.2),
        Sample(triple=1, mode="useful", documents=FIVE[:3], results=3, contains=False, latency_s=0.4),
        Sample(triple=2, mode="useful", error="SearchHTTPError: 502", latency_s=1.0),
        Sample(triple=0, mode="noisy", documents=[FIVE[0], FIVE[0].upper(), *FIVE[1:4]], results=5, latency_s=0.1),
    ]
    useful = mode_metrics([s for s in samples if s.mode == "useful"])
    assert (useful["requests"], useful["errors"]) == (3, 1)
    assert useful["five_documents"] == pytest.approx(1 / 3)  # the failed request is not a valid result
    assert useful["containment"] == 0.5 and useful["documents_per_result"] == 4.0
    assert useful["latency_mean_s"] == pytest.approx(0.3) and useful["words_per_document"] == 5.0
    summary = summarize(samples)
    assert summary["modes"]["noisy"]["duplicate_rate"] == pytest.approx(0.2)
    assert summary["controllability_gap"] == pytest.approx(0.5)
    table = markdown(summary)
    assert "| 5 parseable documents | 33.3% | 100.0% |" in table and "**+50.0%**" in table


def test_eval_sim_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = str(tmp_path / "out")
    assert cli("eval-sim", "--simulator", "http://127.0.0.1:9", "--triples", str(empty), "--out", out) == 2
    assert "no (question, answer, query) triples" in capsys.readouterr().err
    triples = tmp_path / "triples.jsonl"
    triples.write_text(json.dumps({"question": "Who designed the Eiffel Tower?", "answer": "Gustave Eiffel",
                                   "query": "eiffel tower designer"}) + "\n")
    serpapi = write_tool_config(tmp_path / "serpapi.yaml", kind="serpapi", api_key_env="SERPSIM_TEST_NO_SUCH_KEY")
    assert cli("eval-sim", "--simulator", "http://127.0.0.1:9", "--triples", str(triples), "--out", out,
               "--reference-backend", str(serpapi)) == 2
    assert "needs an API key in $SERPSIM_TEST_NO_SUCH_KEY" in capsys.readouterr().err
    # Nothing listens on port 9.
    assert cli("eval-sim", "--simulator", "http://127.0.0.1:9", "--triples", str(triples), "--out", out,
               "--timeout", "2", "--no-progress") == 2
    assert "every request to http://127.0.0.1:9 failed; first error: " in capsys.readouterr().err
    assert not Path(out).exists()
