"""Every environment variable the simulator reads, with its default and meaning, from `Settings`
itself: `serpsim-simulator env-example` prints the simulator's part of `.env.example`, and a test
holds the file to it, so a setting added to `Settings` cannot go undocumented."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, RootModel
from pydantic.fields import FieldInfo

from .settings import Settings

PREFIX = "SERPSIM_"

OTHER_VARIABLES = {
    "SERPSIM_MODEL": ("", "The simulation model for `serve` when neither --model nor SERPSIM_ENGINE__MODEL is set."),
    "SERPSIM_CACHE_DIR": ("~/.cache/serpsim", "Where `serve` builds the tiny demo model when no model is configured."),
    "SERPAPI_API_KEY": ("", "The SerpApi key of a `serpapi` backend (the variable its `api_key_env` names)."),
}
"""Read outside `Settings` (cli.py, the SerpApi backend's default key variable)."""

INTERNAL = ("SERPSIM_SETTINGS_JSON",)
"""Set by `serve` for its own workers (app.SETTINGS_ENV); never set by hand."""


class Variable(NamedTuple):
    name: str
    default: str
    description: str


def _default(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    home = str(Path.home())
    return "~" + text[len(home):] if text.startswith(home + "/") else text


def _walk(model: type[BaseModel], prefix: str, where: str) -> Iterator[Variable]:
    for name, field in model.model_fields.items():
        kind = field.annotation
        path = f"{where}.{name}" if where else name
        if isinstance(kind, type) and issubclass(kind, BaseModel) and not issubclass(kind, RootModel):
            yield from _walk(kind, f"{prefix}{name.upper()}__", path)
            continue
        about = " ".join((field.description or "").split())
        yield Variable(f"{prefix}{name.upper()}", _render(_default(field)), f"{path}: {about}" if about else path)


def settings_variables() -> list[Variable]:
    """One variable per setting (`SERPSIM_<FIELD>`, nested with `__`), in `Settings`' order."""
    return list(_walk(Settings, PREFIX, ""))


def render() -> str:
    """The simulator's part of `.env.example`: every variable commented out at its default."""
    lines = ["# The simulator (serpsim-simulator serve) reads these; each is shown at its default.", ""]
    for name, default, description in [*settings_variables(),
                                       *(Variable(n, d, t) for n, (d, t) in OTHER_VARIABLES.items())]:
        lines.append(f"# {description}" if description else f"# {name}")
        lines.append(f"# {name}={default}")
    lines += ["", f"# Set by serve for its workers, never by hand: {', '.join(INTERNAL)}"]
    return "\n".join(lines) + "\n"
