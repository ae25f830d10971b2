"""Options and helpers every command group shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from abmkit.app import Abm
from abmkit.errors import AbmError

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder (default: current folder).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting for this run, e.g. --set resolve.name_match_"
                 "threshold=85 (repeatable; highest layer, above file and ABM_* environment)."),
]  # fmt: skip


def overrides(pairs: list[str] | None) -> dict:
    """`a.b=1` pairs → {"a": {"b": 1}}; values are read as YAML scalars."""
    out: dict = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise AbmError(f"--set needs KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def open_app(workspace: Path, sets: list[str] | None) -> Abm:
    return Abm.open(workspace, overrides(sets))
