from __future__ import annotations

import argparse
import random

import pytest
from serpsim_trainer.commands import curriculum as curriculum_cmd
from serpsim_trainer.curriculum import Curriculum, noisy_prob


def test_zerosearch_values() -> None:
    assert noisy_prob(0, 203) == 0.0
    assert round(noisy_prob(1, 203), 4) == 0.0011
    assert round(noisy_prob(100, 203), 3) == 0.163
    assert noisy_prob(203, 203) == pytest.approx(0.5)
    assert noisy_prob(500, 203) == pytest.approx(0.5)  # clamped
    assert noisy_prob(-3, 203) == 0.0


def test_monotone_and_custom_range() -> None:
    probs = [noisy_prob(i, 50, 0.25, 0.5, base=2.0) for i in range(51)]
    assert probs == sorted(probs)
    assert probs[0] == 0.25 and probs[-1] == pytest.approx(0.5)


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        noisy_prob(1, 0)
    with pytest.raises(ValueError):
        Curriculum(base=1.0)


def test_draws_replay_and_follow_p() -> None:
    cur = Curriculum(total_steps=203)
    a = [cur.draw_quality(random.Random(7), 150) for _ in range(3)]
    b = [cur.draw_quality(random.Random(7), 150) for _ in range(3)]
    assert a == b
    rng = random.Random(0)
    draws = [cur.draw_quality(rng, 203) for _ in range(4000)]
    assert abs(draws.count("noisy") / 4000 - 0.5) < 0.03
    assert all(cur.draw_quality(rng, 0) == "useful" for _ in range(100))


def main(argv: list[str]) -> int:
    # The command module on its own: the full CLI imports every subcommand's module.
    parser = argparse.ArgumentParser()
    curriculum_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_prints_schedule(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["curriculum", "--start", "0", "--end", "0.5", "--steps", "203", "--every", "50"]) == 0
    out = capsys.readouterr().out
    assert "100\t0.163" in out and "203\t0.500" in out
    png = tmp_path / "c.png"
    # The trainer environment installs matplotlib (requirements/trainer.txt): a missing one must fail here.
    assert main(["curriculum", "--steps", "203", "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
