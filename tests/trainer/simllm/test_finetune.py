"""`sft-sim`: TRL's SFTTrainer on the tiny simulation model, on CPU. The loss covers the documents
only, the training context is the one the simulator renders, and a LoRA run saves a plain merged
model that the simulator's transformers engine serves."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from serpsim_trainer.simllm.finetune import SftOptions, build_trainer
from serpsim_trainer.simllm.judge import judge_records
from serpsim_trainer.simllm.records import SearchRecord, write_jsonl
from serpsim_trainer.simllm.sft_data import build_sft_set

from .conftest import cli, kb_records


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """A ~1M-parameter model gains nothing from more threads; on a busy 2-core machine two
    OpenMP threads waiting on each other make every step many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sft_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sft")
    records = [SearchRecord.model_validate(r) for r in kb_records(4)]
    judged, _ = asyncio.run(judge_records(records, "rule", progress=False))
    write_jsonl(out / "judged.jsonl", judged)
    build_sft_set(judged, out, eval_fraction=0.25)
    return out


def test_loss_is_on_the_documents_only(sft_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from serpsim_simulator.engines._chat import render_prompt

    trainer = build_trainer(SftOptions(model=str(tiny_model_dir), train_file=sft_dir / "sft_train.jsonl",
                                       out_dir=tmp_path / "out", device="cpu", progress=False), tmp_path / "stage")
    rows = [json.loads(line) for line in (sft_dir / "sft_train.jsonl").read_text().splitlines()]
    tokenizer = trainer.processing_class
    assert trainer.args.use_cpu and len(trainer.train_dataset) == len(rows)
    for index in (0, 1, len(rows) - 1):
        batch = trainer.data_collator([trainer.train_dataset[index]])
        ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert all(label != -100 for label in labels[first:])
        _, user, assistant = rows[index]["messages"]
        # What the model is trained to continue is exactly what the simulator's engines render ...
        assert tokenizer.decode(ids[:first]) == render_prompt(tokenizer, user["content"])
        # ... and the loss is on the documents and the end-of-turn token (where generation stops), nothing else.
        assert tokenizer.decode(ids[first:]) == assistant["content"] + "<|im_end|>"


@pytest.mark.heavy
def test_lora_run_saves_a_merged_model_the_simulator_serves(
    sft_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    from safetensors.torch import load_file
    from serpsim_protocol.prompts import build_prompt
    from serpsim_simulator.engines.base import SamplingSettings
    from serpsim_simulator.engines.hf_local import TransformersEngine
    from serpsim_simulator.settings import EngineSettings

    out = tmp_path / "tuned"
    rc = cli("sft-sim", "--model", str(tiny_model_dir), "--data", str(sft_dir / "sft_train.jsonl"),
             "--eval-data", str(sft_dir / "sft_eval.jsonl"), "--out", str(out), "--lora", "--lora-r", "4",
             "--lr", "1e-2", "--batch-size", "4", "--max-steps", "4", "--device", "cpu",
             "--no-gradient-checkpointing", "--no-progress")
    assert rc == 0
    printed = capsys.readouterr().out
    metrics = json.loads(printed[printed.rindex('{\n  "train_loss"'):])
    assert metrics["steps"] == 4 and metrics["eval_loss"] > 0 and metrics["out"] == str(out)
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json",
                                              "chat_template.jinja", "serpsim_sft.json"}
    assert not list(out.glob("adapter*")) and not (tmp_path / "tuned.stage").exists()
    assert json.loads((out / "serpsim_sft.json").read_text())["lora"] is True
    base, tuned = load_file(tiny_model_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert base.keys() == tuned.keys()
    changed = [k for k in base if not torch.equal(base[k], tuned[k])]
    assert changed and all("proj" in k for k in changed)  # the merged LoRA deltas, on linear layers only
    assert (out / "chat_template.jinja").read_text() == (tiny_model_dir / "chat_template.jinja").read_text()

    async def generate() -> str:
        engine = TransformersEngine(EngineSettings(kind="transformers", model=str(out), device="cpu"))
        await engine.start()
        try:
            prompt = build_prompt("who designed Eiffel Tower", "useful", "sft", "Who designed the Eiffel Tower?", "X")
            (completion,) = await engine.generate([prompt], [SamplingSettings(temperature=0.0, max_tokens=40)])
            return completion.text
        finally:
            await engine.aclose()

    assert asyncio.run(generate()).startswith("Doc 1:")


def test_sft_sim_bad_input(sft_dir: Path, tiny_model_dir: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli("sft-sim", "--model", str(tiny_model_dir), "--data", str(empty), "--out", out, "--device", "cpu") == 2
    assert "no rows to train on" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    assert cli("sft-sim", "--model", str(tiny_model_dir), "--data", str(bad), "--out", out, "--device", "cpu") == 2
    assert "bad.jsonl:1: `messages` must end with a non-empty assistant turn" in capsys.readouterr().err
    data = str(sft_dir / "sft_train.jsonl")
    assert cli("sft-sim", "--model", str(tiny_model_dir), "--data", data, "--out", out, "--device", "cuda") == 2
    assert "no GPU is visible" in capsys.readouterr().err
    plain = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, plain)
    (plain / "chat_template.jinja").unlink()
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    assert cli("sft-sim", "--model", str(plain), "--data", data, "--out", out, "--device", "cpu") == 2
    assert "has no chat template: give one with --chat-template" in capsys.readouterr().err
    assert not Path(out).exists()
