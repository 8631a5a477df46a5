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
    result = prepare(out, train=["nq", "hotpotqa"], eval_sets=["nq", "bamboogle"], source_dir=source)
    assert result.counts == {"train.parquet": 3, "test_nq.parquet": 7, "test_bamboogle.parquet": 1, "test.parquet": 8,
                             "val.parquet": 8}
    assert result.merged_train_duplicates == 2  # one within NQ, one NQ question again in HotpotQA
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


def prepare_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    prepare_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["prepare-data", *argv])
    return int(args.func(args))


def test_evaluation_sets_keep_every_source_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 8 item 8: evaluation rows map one to one to source rows (no merging, no answers united);
    merging is for training only, and the command reports it."""
    src = tmp_path / "src"
    test_rows = [
        {"question": "Who wrote Hamlet?", "golden_answers": ["William Shakespeare"]},
        {"question": "who wrote hamlet", "golden_answers": ["Shakespeare"]},
        {"question": "capital of france", "golden_answers": ["Paris"]},
    ]
    write_jsonl(src / "nq" / "test.jsonl", test_rows)
    write_jsonl(src / "nq" / "train.jsonl", test_rows)
    assert prepare_cli(["--out", str(tmp_path / "out"), "--source-dir", str(src), "--train", "nq", "--eval", "nq"]) == 0
    printed = capsys.readouterr().out
    test = pd.read_parquet(tmp_path / "out" / "test_nq.parquet")
    assert [list(r["reward_model"]["ground_truth"]["target"]) for _, r in test.iterrows()] == [
        ["William Shakespeare"], ["Shakespeare"], ["Paris"]]
    assert [e["question"] for e in test.extra_info] == ["Who wrote Hamlet?", "who wrote hamlet?", "capital of france?"]
    train = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert len(train) == 2 and list(train.iloc[0].reward_model["ground_truth"]["target"]) == [
        "William Shakespeare", "Shakespeare"]
    assert "1 duplicate question merged" in printed


def test_any_dataset_name_found_in_the_source_dir(tmp_path: Path) -> None:
    """Issue 8 item 8: people bring their own QA data; a name is valid when its files are there."""
    src = tmp_path / "src"
    write_jsonl(src / "myqa" / "train.jsonl", [{"question": "q1", "golden_answers": ["a1"]}])
    write_jsonl(src / "myqa_test.jsonl", [{"question": "q2", "golden_answers": ["a2"]}])
    assert prepare_cli(["--out", str(tmp_path / "out"), "--source-dir", str(src), "--train", "myqa",
                        "--eval", "myqa"]) == 0
    test = pd.read_parquet(tmp_path / "out" / "test_myqa.parquet")
    assert list(test.data_source) == ["myqa"] and test.iloc[0].extra_info["uid"] == "myqa-test-0"


def test_validation_set_is_a_seeded_sample_per_set(tmp_path: Path) -> None:
    """Issue 8 item 5: verl validates on `val.parquet`, a seeded sample of 500 questions per set (a set
    smaller than that, like Bamboogle's 125, whole); `test_<set>.parquet` keep the full sets for `eval`."""
    from serpsim_trainer.rl import plan_run

    src = tmp_path / "src"
    write_jsonl(src / "nq" / "test.jsonl", [{"question": f"nq q{i}", "golden_answers": ["a"]} for i in range(800)])
    write_jsonl(src / "bamboogle" / "test.jsonl", [{"question": f"b q{i}", "golden_answers": ["a"]} for i in range(125)])
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    for out in (out_a, out_b):
        assert prepare_cli(["--out", str(out), "--source-dir", str(src), "--train", "", "--eval", "nq,bamboogle"]) == 0
    val = pd.read_parquet(out_a / "val.parquet")
    assert val.data_source.value_counts().to_dict() == {"nq": 500, "bamboogle": 125}
    assert len(pd.read_parquet(out_a / "test_nq.parquet")) == 800 and len(pd.read_parquet(out_a / "test.parquet")) == 925
    uids = [e["uid"] for e in val.extra_info]
    assert uids == [e["uid"] for e in pd.read_parquet(out_b / "val.parquet").extra_info]  # seeded
    assert uids[:500] != [f"nq-test-{i}" for i in range(500)]  # a sample, not the head
    assert prepare_cli(["--out", str(tmp_path / "c"), "--source-dir", str(src), "--train", "", "--eval", "nq",
                        "--val-sample", "40"]) == 0
    assert len(pd.read_parquet(tmp_path / "c" / "val.parquet")) == 40
    # The packaged run configs validate on that file, not on the full test sets.
    config = plan_run("grpo", [f"serpsim.run_dir={tmp_path / 'run'}"]).config
    assert Path(config.data.val_files).name == "val.parquet"
