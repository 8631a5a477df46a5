from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from serpsim_trainer.commands import prepare_data as prepare_cmd
from serpsim_trainer.data import prepare
from serpsim_trainer.tags import SEARCH_R1_INSTRUCTION


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_jsonl(src / "nq" / "train.jsonl", [
        {"id": "1", "question": "who wrote hamlet", "golden_answers": ["Shakespeare"]},
        {"id": "2", "question": "Who wrote Hamlet?", "golden_answers": ["William Shakespeare"]},  # duplicate
        {"id": "3", "question": "", "golden_answers": ["x"]},  # no question: dropped
        {"id": "4", "question": "capital of france", "answer": "Paris"},
    ])
    write_jsonl(src / "hotpotqa_train.jsonl", [
        {"question": "capital of France?", "answers": ["Paris, France"]},  # duplicate across sets
        {"question": "tallest mountain", "golden_answers": ["Everest", "Mount Everest"]},
    ])
    write_jsonl(src / "nq" / "test.jsonl", [{"question": f"q{i}", "golden_answers": [f"a{i}"]} for i in range(7)])
    pd.DataFrame([{"question": "b1", "golden_answers": ["x", "y"]}]).to_parquet(src / "bamboogle.parquet")
    return src


def test_prepare_schema_dedupe_and_tail(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    counts = prepare(out, train=["nq", "hotpotqa"], eval_sets=["nq", "bamboogle"], source_dir=source)
    assert counts == {"train.parquet": 3, "test_nq.parquet": 7, "test_bamboogle.parquet": 1, "test.parquet": 8}
    train = pd.read_parquet(out / "train.parquet")
    assert list(train.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info", "agent_name"]
    first = train.iloc[0]
    assert list(first.reward_model["ground_truth"]["target"]) == ["Shakespeare", "William Shakespeare"]
    assert first.prompt[0]["role"] == "user"
    assert first.prompt[0]["content"] == SEARCH_R1_INSTRUCTION.format(question="who wrote hamlet?")
    assert first.extra_info["split"] == "train" and first.extra_info["question"] == "who wrote hamlet?"
    assert first.agent_name == "zerosearch_agent"
    assert list(train.data_source) == ["nq", "nq", "hotpotqa"]  # the HotpotQA duplicate of an NQ question is gone
    test = pd.read_parquet(out / "test.parquet")
    assert len(test) == 8 and test.iloc[-1].extra_info["question"] == "b1?"  # no tail dropped
    assert set(test.extra_info.map(lambda e: e["split"])) == {"test"}
    uids = [e["uid"] for e in pd.concat([train, test]).extra_info]
    assert len(uids) == len(set(uids))


def test_cli_errors_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    prepare_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["prepare-data", "--out", str(tmp_path / "o"), "--source-dir", str(tmp_path), "--eval", "nq"])
    assert args.func(args) == 2
    assert "no nq" in capsys.readouterr().err


def test_verl_dataset_loads_it(source: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    pytest.importorskip("verl")
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    out = tmp_path / "out"
    prepare(out, train=["nq"], eval_sets=["nq"], source_dir=source)
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    cfg = OmegaConf.create({"max_prompt_length": 1024, "return_raw_chat": True, "filter_overlong_prompts": True,
                            "cache_dir": str(tmp_path / "cache")})
    ds = RLHFDataset(data_files=[str(out / "train.parquet")], tokenizer=tok, config=cfg, processor=None)
    assert len(ds) == 2
    item = ds[0]
    assert item["agent_name"] == "zerosearch_agent"
    assert item["raw_prompt"][0]["content"].endswith("Question: who wrote hamlet?\n")
    assert item["extra_info"]["uid"] == "nq-train-0" and item["index"] == 0
    assert list(item["reward_model"]["ground_truth"]["target"]) == ["Shakespeare", "William Shakespeare"]
