"""What this app accepts, built once from its settings: the request models its routes validate
with, and the OpenAPI document made from those same models, so the published schema says exactly
what the server accepts (tests/simulator/test_fuzz.py holds it to that, every check on).

The protocol package's models carry the rules every serpsim server shares (a query with a
non-blank character, `engine=google`); the limits a deployment configures (text lengths, `num`
and `topk`, batch size, the generations one request may cause) are added here, as subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, create_model
from serpsim_protocol import RetrieveQuery, RetrieveRequest, SearchRequest
from serpsim_protocol.common import NonBlank
from serpsim_protocol.prompts import DOCS_PER_GENERATION
from serpsim_protocol.retrieve import json_integer

from ..settings import Settings
from ._http import query_parameters

SEARCH_PATHS = ("/search", "/search.json")
RETRIEVE_PATH = "/retrieve"
_REF = "#/components/schemas/{model}"


def _limited(base: type[BaseModel], name: str | None = None, **fields: Any) -> type[BaseModel]:
    """`base` with more constraints on some fields: `{field: {"max_length": 5}}`, or a whole new
    annotation as `{field: (annotation, {constraints})}`. Descriptions and defaults are kept."""
    definitions: dict[str, Any] = {}
    for field, spec in fields.items():
        info = base.model_fields[field]
        annotation, constraints = spec if isinstance(spec, tuple) else (info.annotation, spec)
        definitions[field] = (Annotated[annotation, Field(**constraints)], info)  # `info` keeps its own constraints
    return create_model(name or base.__name__, __base__=base, **definitions)


def _generation_cap(max_batch: int, max_num: int, cap: int) -> list[dict[str, Any]]:
    """`n·ceil(topk/5) <= cap` as JSON Schema, which has no arithmetic: one branch per number
    of generations g a query may take, allowing topk up to 5g and at most cap // g queries.
    A null or missing topk is the default, one generation."""
    branches: list[dict[str, Any]] = []
    most = -(-max_num // DOCS_PER_GENERATION)
    for g in range(1, most + 1):
        queries = min(max_batch, cap // g)
        topk: dict[str, Any] = {"type": "integer", "maximum": g * DOCS_PER_GENERATION}
        branch = {"properties": {"topk": {"anyOf": [topk, {"type": "null"}]} if g == 1 else topk,
                                 "queries": {"maxItems": queries}}}
        if branches and branches[-1]["properties"]["queries"]["maxItems"] == queries:
            branches[-1] = branch  # the same batch size for a larger topk: one branch serves both
        else:
            branches.append(branch)
    if len(branches) == 1 and branches[0]["properties"]["queries"]["maxItems"] == max_batch:
        return []  # the cap never binds
    return branches


@dataclass(frozen=True)
class Contract:
    search: type[SearchRequest]
    retrieve: type[RetrieveRequest]
    max_generations: int
    retrieve_cap: list[dict[str, Any]]

    @classmethod
    def from_settings(cls, settings: Settings) -> Contract:
        limits, max_num = settings.limits, settings.simulation.max_num
        text = {"max_length": limits.max_query_chars}
        search = _limited(SearchRequest, q=text, question=text, answer=text, num={"le": max_num})
        query = _limited(RetrieveQuery, query=text, question=text, answer=text)
        entry = Annotated[NonBlank, Field(max_length=limits.max_query_chars)] | query
        cap = _generation_cap(limits.max_batch, max_num, limits.max_generations)
        retrieve = _limited(
            RetrieveRequest,
            queries=(list[entry], {"min_length": 1, "max_length": limits.max_batch}),  # type: ignore[valid-type]
            topk=(json_integer(Ge(0), Le(max_num)) | None, {}), question=text, answer=text,
        )
        return cls(search, retrieve, limits.max_generations, cap)  # type: ignore[arg-type]

    def openapi(self, app: FastAPI) -> dict[str, Any]:
        """FastAPI's document for `app`, with these models where the routes validate by hand."""
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
        parameters = query_parameters(self.search)["parameters"]
        for path in SEARCH_PATHS:
            document["paths"][path]["get"]["parameters"] = parameters
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        body = self.retrieve.model_json_schema(ref_template=_REF)
        schemas.update(body.pop("$defs", {}))
        if self.retrieve_cap:
            body["anyOf"] = self.retrieve_cap
            body["description"] = (
                f"At most {self.max_generations} generations per request: a query takes ceil(topk/5)."
            )
        schemas["RetrieveRequest"] = body
        document["paths"][RETRIEVE_PATH]["post"]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model="RetrieveRequest")}}}
        }
        return document
