"""Seeded searches through the simulator (prompts, one engine batch, parsing), alone and together,
for the tests that compare engines and batches."""

from __future__ import annotations

from serpsim_simulator.engines.base import Engine
from serpsim_simulator.settings import SimulationSettings
from serpsim_simulator.simulation.simulate import SimRequest, Simulator

SAMPLING = SimulationSettings(max_tokens=160)
"""ZeroSearch's sampling (temperature 0.8, top_p 1.0), with room for the tiny model's five documents."""

BATCH = [
    SimRequest(query=q, quality=quality, question=question, answer=answer, num=5, seed=seed)
    for seed, (q, quality, question, answer) in enumerate(
        [
            ("capital of france", "useful", "What is the capital of France?", "Paris"),
            ("who wrote hamlet", "noisy", None, None),
            ("tallest mountain on earth", "useful", None, "Mount Everest"),
            ("speed of light", "noisy", "How fast is light?", "299,792 km/s"),
            ("largest ocean", "useful", None, None),
            ("first man on the moon", "noisy", None, None),
            ("boiling point of water", "useful", "At what temperature does water boil?", "100 C"),
            ("author of war and peace", "useful", None, "Leo Tolstoy"),
            ("longest river in africa", "noisy", None, None),
            ("inventor of the telephone", "useful", None, None),
            ("george washington bridge opening year", "useful", None, "1931"),
            ("chemical symbol for gold", "noisy", None, None),
            ("population of tokyo", "useful", None, None),
            ("who painted the mona lisa", "noisy", "Who painted the Mona Lisa?", "Leonardo da Vinci"),
            ("deepest lake", "useful", None, None),
            ("year the berlin wall fell", "useful", None, "1989"),
        ],
        start=101,
    )
]


def snippets(result: object) -> list[str]:
    return [doc.snippet for doc in result.documents]  # type: ignore[attr-defined]


async def alone(engine: Engine, requests: list[SimRequest], sampling: SimulationSettings = SAMPLING) -> list[list[str]]:
    """Each search on its own, one after another."""
    simulator = Simulator(engine, sampling)
    return [snippets((await simulator.simulate([r]))[0]) for r in requests]


async def together(engine: Engine, requests: list[SimRequest], sampling: SimulationSettings = SAMPLING) -> list[list[str]]:
    """All searches as one engine batch (one /retrieve)."""
    return [snippets(r) for r in await Simulator(engine, sampling).simulate(requests)]
