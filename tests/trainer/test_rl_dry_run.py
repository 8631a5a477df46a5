"""`serpsim-train rl --dry-run` composes verl's full trainer config for each algorithm through the
same code path as a real run, and fails when a class or function the config names does not import."""

from __future__ import annotations

from pathlib import Path

import pytest
from serpsim_trainer.cli import main
from serpsim_trainer.rl import RunConfigError, dry_run, plan_run

ALGORITHMS = {"grpo": "grpo", "ppo": "gae", "reinforce_pp": "reinforce_plus_plus"}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_dry_run_composes_each_algorithm(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["rl", "--config", name, "--dry-run", f"serpsim.run_dir={tmp_path}"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"algorithm: {ALGORITHMS[name]}" in out
    assert "agent loop 'zerosearch_agent': serpsim_trainer.agent_loop.SearchAgentLoop" in out
    assert "reward function: pkg://serpsim_trainer.reward:compute_score" in out
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "search_tool.yaml").is_file()


def test_zerosearch_defaults_and_wiring(tmp_path: Path) -> None:
    plan = plan_run("grpo", [f"serpsim.run_dir={tmp_path}", "trainer.total_training_steps=50"])
    cfg = plan.config
    assert cfg.data.train_batch_size == 64 and cfg.actor_rollout_ref.rollout.n == 5
    assert cfg.actor_rollout_ref.actor.optim.lr == 1e-6
    actor = cfg.actor_rollout_ref.actor
    assert actor.use_kl_loss and actor.kl_loss_coef == 0.001 and actor.kl_loss_type == "low_var_kl"
    rollout = cfg.actor_rollout_ref.rollout
    assert rollout.temperature == 1.0 and rollout.top_p == 0.95
    assert rollout.agent.default_agent_loop == "zerosearch_agent"
    assert rollout.multi_turn.max_tool_response_length >= 4000  # five documents, not verl's 256
    assert rollout.multi_turn.tool_config_path == str(tmp_path / "search_tool.yaml")
    assert cfg.trainer.default_local_dir == str(tmp_path / "checkpoints") and cfg.trainer.resume_mode == "auto"
    search = plan.tool_config["tools"][0]["config"]
    # The curriculum runs over the run's own length, whatever the override.
    assert search["curriculum"] == {"start": 0.0, "end": 0.5, "base": 4.0, "granularity": "call", "total_steps": 50}
    assert search["topk"] == 5 and search["agent"]["max_turns"] == 5
    assert search["trace_path"] == str(tmp_path / "search_trace.jsonl")


def test_cpu_flag_adds_platform_and_settings(tmp_path: Path) -> None:
    plan = plan_run("grpo", [f"serpsim.run_dir={tmp_path}"], cpu=True)
    assert plan.env["VERL_PLATFORM"] == "cpu"
    assert "serpsim_trainer.cpu_platform" in plan.env["VERL_USE_EXTERNAL_MODULES"].split(",")
    assert plan.config.actor_rollout_ref.actor.strategy == "fsdp2"
    assert plan.config.trainer.n_gpus_per_node == 1
    assert any(line.startswith("cpu platform:") for line in dry_run(plan))


def test_command_line_override_wins(tmp_path: Path) -> None:
    plan = plan_run("ppo", [f"serpsim.run_dir={tmp_path}", "actor_rollout_ref.rollout.n=3", "serpsim.search.topk=3"])
    assert plan.config.actor_rollout_ref.rollout.n == 3
    assert plan.tool_config["tools"][0]["config"]["topk"] == 3


def test_broken_agent_loop_class_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loops = tmp_path / "loops.yaml"
    loops.write_text("- name: zerosearch_agent\n  _target_: serpsim_trainer.agent_loop.NoSuchLoop\n")
    args = ["rl", "--config", "grpo", "--dry-run", f"serpsim.run_dir={tmp_path}",
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={loops}"]
    assert main(args) == 2
    with pytest.raises(RunConfigError, match="NoSuchLoop"):
        dry_run(plan_run("grpo", args[4:]))


def test_broken_reward_function_fails(tmp_path: Path) -> None:
    plan = plan_run("grpo", [f"serpsim.run_dir={tmp_path}", "reward.custom_reward_function.name=no_such_fn"])
    with pytest.raises(RunConfigError, match="no_such_fn"):
        dry_run(plan)


def test_unknown_verl_key_fails(tmp_path: Path) -> None:
    with pytest.raises(RunConfigError, match="composition failed"):
        plan_run("grpo", [f"serpsim.run_dir={tmp_path}", "trainer.no_such_key=1"])


def _failure_rates(node: object) -> list[object]:
    """Every value of a key naming a search-failure bound, anywhere in a config tree."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if "failure_rate" in str(k)]
        return found + [x for v in node.values() for x in _failure_rates(v)]
    if isinstance(node, list):
        return [x for v in node for x in _failure_rates(v)]
    return []


@pytest.mark.parametrize("override", [[], ["serpsim.max_search_failure_rate=0.35"]])
def test_one_failure_bound_reaches_verls_trainer(override: list[str], tmp_path: Path) -> None:
    """Issue 8 item 2: one bound, one default. The run's value (0.2 unless overridden) is the only one
    in the packaged tool config, the rendered one and the trainer config verl runs; it reaches verl's
    trainer, which checks it per step."""
    import yaml
    from omegaconf import OmegaConf
    from serpsim_trainer.rl import CONFIG_DIR

    expected = 0.35 if override else 0.2
    plan = plan_run("grpo", [f"serpsim.run_dir={tmp_path}", *override])
    packaged = yaml.safe_load((CONFIG_DIR / "search_tool.yaml").read_text())
    trainer = OmegaConf.to_container(plan.config, resolve=True)
    assert _failure_rates(trainer) == [expected]
    assert set(_failure_rates(packaged) + _failure_rates(plan.tool_config)) <= {expected, 0.2}
    assert plan.serpsim.max_search_failure_rate == expected


def test_legacy_trainer_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 8 item 6: verl's legacy trainer passes no step or rollout index to agent loops (the curriculum
    would run at p = 0, seeds would repeat across workers) and has no per-step failure bound: refused."""
    rc = main(["rl", "--config", "grpo", "--dry-run", f"serpsim.run_dir={tmp_path}", "trainer.use_v1=false"])
    assert rc == 2
    assert "trainer.use_v1" in caplog.text
    assert not (tmp_path / "config.yaml").exists()
