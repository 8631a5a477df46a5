"""The search path's cross-parameter rules (search/service.py) as JSON Schema, for the published
OpenAPI document: a request the schema admits is one the service takes, and the other way round.

    noise       `noise_ratio` or `noise_count`, not both; neither with `quality`
    kind        real backends (corpus, serpapi) take none of `quality`, `noise_ratio`,
                `noise_count`, `question`, `answer` (per query too, on /retrieve)
    generations a simulated /retrieve causes at most `limits.max_generations`: a query at topk k
                takes ceil(k/5) generations, one more when the batch mixes noise

`/search`'s parameters are one exploded object (OpenAPI `style: form, explode: true`), so these
rules hold across parameters there as in `/retrieve`'s JSON body; in a query a parameter is
either sent or not, in the body an absent field and a null are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serpsim_protocol.prompts import DOCS_PER_GENERATION

from ..backends.base import REAL_KINDS
from ..backends.settings import BackendsSettings
from ..search.query import SIMULATION_ONLY

NULL: dict[str, Any] = {"type": "null"}
PER_QUERY_SIMULATION_ONLY = ("quality", "question", "answer")
"""The simulation-only fields a /retrieve query object may carry (the noise is the batch's)."""


@dataclass(frozen=True)
class Catalogue:
    """The configured backends' names by kind, and whether the default is the simulation."""

    simulated: list[str]
    real: list[str]
    default_simulated: bool

    @classmethod
    def of(cls, backends: BackendsSettings) -> Catalogue:
        return cls(
            simulated=[b.name for b in backends.backends if b.kind not in REAL_KINDS],
            real=[b.name for b in backends.backends if b.kind in REAL_KINDS],
            default_simulated=backends.default.kind not in REAL_KINDS,
        )


def _absent(field: str) -> dict[str, Any]:
    return {"not": {"required": [field]}}


def _chosen(names: list[str]) -> dict[str, Any]:
    return {"properties": {"backend": {"enum": names}}, "required": ["backend"]}


def _kind_rule(cat: Catalogue, default: dict[str, Any], no_simulation: dict[str, Any]) -> list[dict[str, Any]]:
    """A request for the simulation may send anything; one for real search, none of its fields."""
    if not cat.real:
        return []
    branches = []
    if cat.simulated:
        branches.append(_chosen(cat.simulated))
        if cat.default_simulated:
            branches.append(default)
    branches.append(no_simulation)
    return [{"anyOf": branches}]


def query_rules(cat: Catalogue) -> list[dict[str, Any]]:
    """`/search`: rules over its parameters object (a parameter is sent or absent)."""
    rules: list[dict[str, Any]] = [
        _absent_together("noise_ratio", "noise_count"),
        _absent_together("quality", "noise_ratio"),
        _absent_together("quality", "noise_count"),
    ]
    no_simulation = {"allOf": [_absent(f) for f in SIMULATION_ONLY]}
    return rules + _kind_rule(cat, _absent("backend"), no_simulation)


def _absent_together(a: str, b: str) -> dict[str, Any]:
    return {"not": {"required": [a, b]}}


def _not_both_set(a: str, b: str) -> dict[str, Any]:
    return {"not": {"required": [a, b], "properties": {a: {"not": NULL}, b: {"not": NULL}}}}


def _queries_without(fields: tuple[str, ...]) -> dict[str, Any]:
    """`queries` whose object entries leave `fields` unset (null or absent)."""
    entry = {"type": "object", "properties": dict.fromkeys(fields, NULL)}
    return {"items": {"anyOf": [{"type": "string"}, entry]}}


def body_rules(cat: Catalogue, max_batch: int, max_num: int, cap: int) -> list[dict[str, Any]]:
    """`/retrieve`: rules over its JSON body (a field is unset when absent or null)."""
    no_noise = {"properties": {"noise_ratio": NULL, "noise_count": NULL}}
    no_quality = {"properties": {"quality": NULL, "queries": _queries_without(("quality",))}}
    rules: list[dict[str, Any]] = [_not_both_set("noise_ratio", "noise_count"), {"anyOf": [no_noise, no_quality]}]
    no_simulation = {"properties": {**dict.fromkeys(SIMULATION_ONLY, NULL),
                                    "queries": _queries_without(PER_QUERY_SIMULATION_ONLY)}}
    rules += _kind_rule(cat, {"properties": {"backend": NULL}}, no_simulation)
    if cat.simulated:
        capped = generation_cap(max_batch, max_num, cap)
        if capped:
            real = [_chosen(cat.real)] if cat.real else []
            if cat.real and not cat.default_simulated:
                real.append({"properties": {"backend": NULL}})
            rules.append({"anyOf": real + capped})
    return rules


def generation_cap(max_batch: int, max_num: int, cap: int) -> list[dict[str, Any]]:
    """`n·(ceil(topk/5) + noise) <= cap` as JSON Schema, which has no arithmetic: one branch per
    number of generations g a query may take, allowing topk up to 5g and at most cap // g
    queries (cap // (g + 1) when the batch mixes noise). A null or missing topk is the default,
    3: one generation, which fits every branch. Empty when the cap never binds."""
    no_noise = {"noise_ratio": NULL, "noise_count": NULL}
    plain: list[dict[str, Any]] = []
    mixed: list[dict[str, Any]] = []
    binds = False
    most = -(-max_num // DOCS_PER_GENERATION)
    for g in range(1, most + 1):
        # A null topk is 3, one generation: within every branch's batch size.
        topk_schema = {"anyOf": [{"type": "integer", "maximum": g * DOCS_PER_GENERATION}, NULL]}
        for branches, per_query, extra in ((plain, g, no_noise), (mixed, g + 1, {})):
            queries = min(max_batch, cap // per_query)
            binds = binds or queries < max_batch
            branch = {"properties": {"topk": topk_schema, "queries": {"maxItems": queries}, **extra}}
            if branches and branches[-1]["properties"]["queries"]["maxItems"] == queries:
                branches[-1] = branch  # the same batch size for a larger topk: one branch serves both
            else:
                branches.append(branch)
    return plain + mixed if binds else []
