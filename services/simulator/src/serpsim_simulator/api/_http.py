"""Hot-path HTTP helpers: a route without per-request dependency solving, a query model
validated in one pydantic call, and orjson bodies.

Measured per request on the overhead benchmark's machine (bench/overhead.py): FastAPI validates
an `Annotated[Model, Query()]` parameter field by field, with type introspection each time (about
60 µs for `SearchRequest`, more than the rest of a search with a zero-latency engine), and solves
even a `Request`-only signature's dependencies (about 12 µs). `RequestOnlyRoute` hands the request
straight to the endpoint; `parse_query` validates the whole model in one `model_validate` call
(api/contract.py publishes the same model as the route's parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


class RequestOnlyRoute(APIRoute):
    """An `APIRoute` whose endpoint takes only the `Request` and returns a `Response` itself.

    The endpoint is the request handler: no dependency solving, no response-model serialisation.
    Errors it raises reach the app's exception handlers as from any route, and the OpenAPI
    operation still comes from the route's declarations (`openapi_extra`, `response_model`,
    `responses`).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        d = self.dependant
        declared = (d.path_params, d.query_params, d.header_params, d.cookie_params, d.body_params, d.dependencies)
        if d.request_param_name is None or any(declared):
            raise TypeError(f"{self.path}: a RequestOnlyRoute endpoint takes exactly one parameter, the Request")
        return self.endpoint  # type: ignore[no-any-return]


def request_only(router: APIRouter, method: str, path: str, **kwargs: Any) -> Callable[[EndpointT], EndpointT]:
    """`@router.get(path, **kwargs)` (or post...) with `RequestOnlyRoute` as the route class."""

    def register(endpoint: EndpointT) -> EndpointT:
        router.add_api_route(path, endpoint, methods=[method], route_class_override=RequestOnlyRoute, **kwargs)
        return endpoint

    return register


def parse_query(model: type[ModelT], query: dict[str, str]) -> ModelT:
    """`model` from the query parameters (`dict(request.query_params)`); a bad value is the same
    400 FastAPI's validation gives.

    Repeated parameters keep their last value in that dict, as FastAPI does for scalar fields.
    A bracketed form of a known parameter (`seed[a]=1`, how clients serialise a nested object) is
    a 400, not an unknown parameter ignored: the client meant that parameter and would otherwise
    get results made without it.
    """
    for key in query:
        name = key.partition("[")[0]
        if name != key and name in _names(model):
            raise RequestValidationError([{
                "type": "scalar_expected", "loc": ("query", name), "input": query[key],
                "msg": f"`{name}` takes one value, not the nested form `{key}`",
            }])
    try:
        return model.model_validate(query)
    except ValidationError as exc:
        errors = [{**err, "loc": ("query", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _names(model: type[BaseModel]) -> set[str]:
    """The query names `model` reads: its fields and their aliases."""
    return {n for name, field in model.model_fields.items() for n in (name, field.alias) if n}


def parse_body(model: type[ModelT], body: bytes) -> ModelT:
    """`model` from a JSON request body, in one pydantic call; a bad body (not JSON, or not the
    model) is the same 400 as a bad query."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


class OrjsonResponse(JSONResponse):
    """JSON encoded by orjson: several times faster than `json.dumps` for a search response."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
