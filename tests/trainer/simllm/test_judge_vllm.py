"""The LLM judge against a real model: the tiny simulation model, briefly warm-started with
`sft-sim` to answer `JUDGE_PROMPT` with useful/noisy, behind vLLM's OpenAI server (which also
shows that an `sft-sim` output loads in vLLM unchanged). It must agree with the rule judge on
the pipeline's pairs, whose landmarks it was not warm-started on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serpsim_trainer.simllm.judge import judge_prompt, rule_verdict
from serpsim_trainer.simllm.records import SearchRecord

from ...conftest import vllm_openai_server
from . import kb
from .conftest import cli, kb_records, write_records

pytestmark = pytest.mark.heavy

SERVED = "tiny-judge"
PIPELINE_LANDMARKS = 24


def test_tiny_judge_behind_vllm_agrees_with_the_rule_judge(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    warm = [SearchRecord.model_validate(r)
            for r in kb.records(kb.facts(1, len(kb.LANDMARKS))[3 * PIPELINE_LANDMARKS:])]
    rows = [{"messages": [{"role": "user", "content": judge_prompt(r)},
                          {"role": "assistant", "content": rule_verdict(r)}]} for r in warm]
    (tmp_path / "judge_sft.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    judge_model = tmp_path / "judge-model"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli("sft-sim", "--model", str(tiny_model_dir), "--data", str(tmp_path / "judge_sft.jsonl"),
                   "--out", str(judge_model), "--lr", "3e-3", "--batch-size", "8", "--max-steps", "60",
                   "--device", "cpu", "--no-gradient-checkpointing", "--no-progress") == 0
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()

    pairs = kb_records(PIPELINE_LANDMARKS)
    assert not {r["question"] for r in pairs} & {r.question for r in warm}
    records = write_records(tmp_path / "searches.jsonl", pairs)
    out = tmp_path / "judged.jsonl"
    flags = ["--model", str(judge_model), "--served-model-name", SERVED, "--max-model-len", "2048", "--max-num-seqs", "8"]
    with vllm_openai_server(flags, tmp_path / "vllm.log") as url:
        assert cli("judge", "--records", str(records), "--out", str(out), "--judge", "llm", "--judge-url", url,
                   "--judge-model", SERVED, "--no-balance", "--no-progress") == 0
    stats = json.loads(capsys.readouterr().out)
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    agree = sum(r["label"] == rule_verdict(SearchRecord.model_validate(r)) for r in judged)
    assert stats["records"] == len(pairs) and stats["useful"] + stats["noisy"] + stats["garbage"] == len(pairs)
    assert agree / len(pairs) >= 0.9, (agree, len(pairs), stats)
    with capsys.disabled():
        print(f"\ntiny LLM judge via vLLM: {agree}/{len(pairs)} agree with the rule judge, "
              f"{stats['garbage']} without a clear verdict")
