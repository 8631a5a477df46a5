"""The miniature pipeline's budgets: `full` (`make mini`, under an hour on a 2-core CPU) and `ci`
(the reduced end-to-end test). Everything a run trains or evaluates is sized here, so a smaller
budget is a change of configuration, not of code."""

from __future__ import annotations

from dataclasses import dataclass, field

from .warmup import WarmupSettings

ARMS: dict[str, str] = {
    "a": "warm-started, no search (max_turns 0)",
    "b": "warm-started, with search (before RL)",
    "c": "RL against the simulator",
    "d": "RL against the corpus",
    "e": "RL against the simulator, per-document curriculum",
}
RL_ARMS = ("c", "d", "e")


@dataclass(frozen=True)
class Profile:
    world: str
    """A `mini.world.SIZES` key."""
    warmup: WarmupSettings
    collect_questions: int
    """Training questions the warmed-up policy answers against the corpus (the tuning set's source)."""
    sft_steps: int
    sft_batch_size: int
    sft_lr: float
    eval_sim_triples: int | None
    rl_steps: int
    """GRPO steps per RL arm (the curriculum runs 0 -> 0.5 over them)."""
    rl_batch_size: int
    rl_rollouts: int
    rl_lr: float
    eval_questions: int | None
    """Held-out questions per arm (None: all of them)."""
    arms: tuple[str, ...] = ("a", "b", "c", "d")
    max_turns: int = 3
    max_tokens_per_turn: int = 64
    max_obs_tokens: int = 512
    max_prompt_length: int = 512
    max_response_length: int = 1024
    extra_rl: tuple[str, ...] = field(default_factory=tuple)
    """Further Hydra overrides for every RL launch."""


PROFILES: dict[str, Profile] = {
    # The warm-up's 2-layer, 128-wide model (a quarter of the default's compute) keeps the whole run
    # under an hour on a shared 2-core CPU.
    "full": Profile(
        world="full", warmup=WarmupSettings(hidden_size=128, layers=2, heads=4), collect_questions=200, sft_steps=300, sft_batch_size=8, sft_lr=3e-3,
        eval_sim_triples=40, rl_steps=4, rl_batch_size=8, rl_rollouts=4, rl_lr=3e-4, eval_questions=300,
    ),
    # Mechanics, not quality: two GRPO steps (as tests/trainer/test_rl_cpu_training.py's first launch,
    # whose assertions run on this arm), one RL arm. lr 1e-4: Adam moves every weight by ~lr a step,
    # visibly; at 1e-3, steps without reward (only ZeroSearch's entropy bonus pulls) unlearned the
    # protocol in three steps (searches per step 69, 28, 0), and the resumed launches of that test
    # need a policy that still searches. The tiny policy answers few questions right (given the gold passage, 10% of them;
    # about one rollout in 64 scores against the simulator), so each step samples 8 questions x 8
    # rollouts. Collecting 120 questions gives the simulator ~90 tuning rows (24 gave 13, and a
    # simulator that never wrote the answer).
    "ci": Profile(
        world="ci",
        warmup=WarmupSettings(copy_steps=600, steps=600, hidden_size=128, layers=2, heads=4),
        collect_questions=120, sft_steps=300, sft_batch_size=8, sft_lr=3e-3, eval_sim_triples=12,
        rl_steps=2, rl_batch_size=8, rl_rollouts=8, rl_lr=1e-4, eval_questions=24,
        arms=("a", "b", "c"), max_turns=2, max_tokens_per_turn=48, max_obs_tokens=400, max_response_length=768,
    ),
}
