"""Write a settings tree as YAML with each field's help text as a comment above it."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

HEADER = """\
# abmkit workspace configuration.
# Every setting below shows its default. Layering: this file → ABM_* environment variables
# (nested with __, e.g. ABM_WAREHOUSE__URL) → command-line flags. Secrets (passwords, API keys)
# never go here: set them as ABM_SECRET_<NAME> in the environment.
"""


def render_config(settings: BaseModel) -> str:
    """YAML text of `settings`, documented field by field."""
    return HEADER + "\n" + "".join(_render_model(settings, indent=0))


def _render_model(model: BaseModel, indent: int) -> list[str]:
    out: list[str] = []
    pad = " " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        for line in (field.description or "").splitlines():
            out.append(f"{pad}# {line}\n")
        if isinstance(value, BaseModel):
            out.append(f"{pad}{name}:\n")
            out.extend(_render_model(value, indent + 2))
        else:
            out.append(_render_value(name, value, pad))
    if indent == 0:
        out = [line if not line.startswith("#") else "\n" + line for line in out]
    return out


def _render_value(name: str, value: Any, pad: str) -> str:
    plain = _plain(value)
    if isinstance(plain, (list, dict)) and plain:
        body = yaml.safe_dump({name: plain}, sort_keys=False, default_flow_style=False)
        return "".join(f"{pad}{line}\n" for line in body.splitlines())
    return f"{pad}{yaml.safe_dump({name: plain}, default_flow_style=True).strip()[1:-1]}\n"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
