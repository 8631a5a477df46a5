"""What this app accepts, built once from its settings: the request models its routes validate
with, and the OpenAPI document made from those same models and the search path's rules
(schema_rules.py), so the published schema says exactly what the server accepts
(tests/simulator/test_fuzz.py holds it to that, every check on).

The protocol package's models carry the rules every serpsim server shares (a query with a
non-blank character, `engine=google`); what a deployment configures is added here, as
subclasses: text lengths, `num` and `topk`, batch size, the generations one request may cause,
and the names of its backends (`backend` is one of them).

`/search`'s parameters are published as one object parameter (`style: form, explode: true`:
on the wire, the same `?q=...&num=...` as separate parameters), because only an object can say
that two parameters exclude each other, or that a real backend takes no `quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, create_model
from serpsim_protocol import RetrieveQuery, RetrieveRequest, SearchRequest
from serpsim_protocol.common import NonBlank
from serpsim_protocol.retrieve import json_integer

from ..settings import Settings
from .schema_rules import Catalogue, body_rules, query_rules

SEARCH_PATHS = ("/search", "/search.json")
RETRIEVE_PATH = "/retrieve"
_REF = "#/components/schemas/{model}"
TIMEOUT = {
    "type": "number", "exclusiveMinimum": 0,
    "description": "The request's deadline in seconds (also the X-Timeout header), capped at the server's maximum.",
}


def _limited(base: type[BaseModel], name: str | None = None, **fields: Any) -> type[BaseModel]:
    """`base` with more constraints on some fields: `{field: {"max_length": 5}}`, or a whole new
    annotation as `{field: (annotation, {constraints})}`. Descriptions and defaults are kept."""
    definitions: dict[str, Any] = {}
    for field, spec in fields.items():
        info = base.model_fields[field]
        annotation, constraints = spec if isinstance(spec, tuple) else (info.annotation, spec)
        definitions[field] = (Annotated[annotation, Field(**constraints)], info)  # `info` keeps its own constraints
    return create_model(name or base.__name__, __base__=base, **definitions)


def _backend_field(base: type[BaseModel], names: list[str]) -> tuple[Any, Any]:
    """`backend` as one of this server's names (the protocol's pattern would admit any)."""
    info = base.model_fields["backend"]
    return Literal[tuple(names)] | None, Field(default=None, description=info.description)  # type: ignore[valid-type]


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema as a query parameter's: a parameter is sent or not, never null."""
    schema = dict(schema)
    if schema.get("default", 0) is None:
        del schema["default"]
    branches = schema.get("anyOf")
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept
    return schema


def parameters_object(model: type[BaseModel], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The schema of `/search`'s parameters as one object, with the cross-parameter rules."""
    schema = model.model_json_schema()
    properties = {name: _without_null(field) for name, field in schema["properties"].items()}
    properties["timeout"] = TIMEOUT
    out: dict[str, Any] = {"type": "object", "properties": properties, "required": schema.get("required", [])}
    if rules:
        out["allOf"] = rules
    return out


@dataclass(frozen=True)
class Contract:
    search: type[SearchRequest]
    retrieve: type[RetrieveRequest]
    max_generations: int
    search_rules: list[dict[str, Any]]
    retrieve_rules: list[dict[str, Any]]

    @classmethod
    def from_settings(cls, settings: Settings) -> Contract:
        limits, max_num = settings.limits, settings.simulation.max_num
        names = settings.backends.names
        text = {"max_length": limits.max_query_chars}
        search = _limited(
            SearchRequest, q=text, question=text, answer=text, num={"le": max_num}, noise_count={"le": max_num},
        )
        search = create_model("SearchRequest", __base__=search, backend=_backend_field(SearchRequest, names))
        query = _limited(RetrieveQuery, query=text, question=text, answer=text)
        entry = Annotated[NonBlank, Field(max_length=limits.max_query_chars)] | query
        retrieve = _limited(
            RetrieveRequest,
            queries=(list[entry], {"min_length": 1, "max_length": limits.max_batch}),  # type: ignore[valid-type]
            topk=(json_integer(Ge(0), Le(max_num)) | None, {}), question=text, answer=text,
            noise_count=(json_integer(Ge(0), Le(max_num)) | None, {}),
        )
        retrieve = create_model("RetrieveRequest", __base__=retrieve, backend=_backend_field(RetrieveRequest, names))
        cat = Catalogue.of(settings.backends)
        return cls(
            search, retrieve, limits.max_generations,  # type: ignore[arg-type]
            query_rules(cat), body_rules(cat, limits.max_batch, max_num, limits.max_generations),
        )

    def openapi(self, app: FastAPI) -> dict[str, Any]:
        """FastAPI's document for `app`, with these models where the routes validate by hand."""
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
        parameter = {
            "name": "parameters", "in": "query", "required": True, "style": "form", "explode": True,
            "description": "SerpApi's Google Search parameters, then serpsim's; unknown ones are ignored.",
            "schema": parameters_object(self.search, self.search_rules),
        }
        for path in SEARCH_PATHS:
            document["paths"][path]["get"]["parameters"] = [parameter]
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        body = self.retrieve.model_json_schema(ref_template=_REF)
        schemas.update(body.pop("$defs", {}))
        if self.retrieve_rules:
            body["allOf"] = self.retrieve_rules
            body["description"] = (
                f"At most {self.max_generations} generations per simulated request: a query takes ceil(topk/5), "
                "one more when the batch mixes noise."
            )
        schemas["RetrieveRequest"] = body
        document["paths"][RETRIEVE_PATH]["post"]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model="RetrieveRequest")}}}
        }
        return document
