"""The tiny Qwen2 simulation model: tokenizer round trip, chat template, `Doc k:` output (vLLM loads it: engines/)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from serpsim_protocol.prompts import build_prompt
from serpsim_simulator.tiny_model import (
    ENDOFTEXT,
    IM_END,
    MARKER_FILE,
    build_tokenizer,
    chat_messages,
    synthetic_examples,
)

# Queries the model never saw: entities and wordings outside the synthetic training lists.
UNSEEN = [
    ("Tower Bridge opening year", "useful", "sft", None, None),
    ("who painted The Starry Night", "noisy", "sft", "Who painted The Starry Night?", None),
    ("Lake Victoria surface area", "useful", "prompt", None, None),
    ("capital city of Australia", "useful", "sft", "What is the capital of Australia?", "Canberra"),
    ("Ngorongoro Crater history", "noisy", "prompt", None, None),
]

SAMPLES = [
    "Who designed the Golden Gate Bridge? <search>Golden Gate Bridge designer</search>",
    "<think>I need the year.</think><information>Doc 1: It opened in 1937.</information><answer>1937</answer>",
    "Ünïcödé café naïve — 東京 2024, e\u0301 (combining accent), tabs\tand\r\nnewlines  double  spaces",
    build_prompt("George Washington Bridge opening year", "useful", "prompt", "When?", "1931"),
]


def test_marker_file(tiny_model_dir: Path) -> None:
    marker = json.loads((tiny_model_dir / MARKER_FILE).read_text())
    assert marker["train_steps"] > 0
    assert marker["seed"] == 0
    assert marker["final_loss"] < 2.0
    assert (tiny_model_dir / "config.json").exists()
    assert not tiny_model_dir.with_name(tiny_model_dir.name + ".tmp").exists()


def test_tokenizer_ids_survive_reload(tiny_model_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    assert AutoConfig.from_pretrained(tiny_model_dir).model_type == "qwen2"
    reloaded = AutoTokenizer.from_pretrained(tiny_model_dir)
    again = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert reloaded.eos_token == IM_END
    assert reloaded.pad_token == ENDOFTEXT
    for text in SAMPLES:
        ids = reloaded(text, add_special_tokens=False)["input_ids"]
        assert ids == again(text, add_special_tokens=False)["input_ids"]
        assert reloaded.decode(ids) == unicodedata.normalize("NFC", text)


def test_fresh_tokenizer_matches_after_save_and_reload(tmp_path: Path) -> None:
    """build_tokenizer's own pipeline equals what Qwen2Tokenizer rebuilds next to a qwen2 config."""
    from transformers import AutoTokenizer, Qwen2Config

    corpus = [ex.prompt() + "\n" + ex.target() for ex in synthetic_examples(60, seed=3)]
    tokenizer = build_tokenizer(corpus, vocab_size=1000)
    tokenizer.save_pretrained(tmp_path)
    Qwen2Config(vocab_size=len(tokenizer)).save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(reloaded).__name__ == "Qwen2Tokenizer"
    assert len(reloaded) == len(tokenizer)
    for text in [*SAMPLES, *corpus[:5]]:
        assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"], text[:60]
    for token in ("<|im_start|>", IM_END, ENDOFTEXT):
        assert reloaded.convert_tokens_to_ids(token) == tokenizer.convert_tokens_to_ids(token)
        assert reloaded(token, add_special_tokens=False)["input_ids"] == [tokenizer.convert_tokens_to_ids(token)]


def test_extra_tags_are_plain_text_and_compact(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["a small corpus about search engines"] * 10, vocab_size=400)
    assert "<search>" not in tokenizer.all_special_tokens
    assert len(tokenizer("<search>", add_special_tokens=False)["input_ids"]) <= 2
    assert tokenizer.decode(tokenizer("<answer>x</answer>")["input_ids"]) == "<answer>x</answer>"


def test_chat_template_renders_empty_system_turn(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rendered = tokenizer.apply_chat_template(chat_messages("hello"), tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    no_prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=False
    )
    assert no_prompt == "<|im_start|>user\nhi<|im_end|>\n"  # no default system prompt injected


def test_greedy_outputs_are_doc_lines_for_unseen_queries(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids(IM_END)
    assert 300_000 < model.num_parameters() < 2_000_000
    good = 0
    outputs = []
    for args in UNSEEN:
        text = tokenizer.apply_chat_template(
            chat_messages(build_prompt(*args)), tokenize=False, add_generation_prompt=True
        )
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=120, do_sample=False)
        completion = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        outputs.append(completion)
        lines = completion.splitlines()
        good += any(line.startswith("Doc 1:") for line in lines) and any(line.startswith("Doc 2:") for line in lines)
    assert good >= 4, outputs
