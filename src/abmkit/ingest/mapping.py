"""Column mappings: which source column feeds which canonical column.

A mapping is plain data (YAML file, config entry or built-in preset):

    table: accounts                # optional; checked against `abm ingest accounts`
    extends: salesforce            # optional: start from a preset and override
    header: true                   # false for header-less files, then give `names`
    columns:                       # source column -> canonical column, `attr:NAME` or `ignore`
      account: name
      sector: industry
    scale: {revenue: 1000000}      # multiply a numeric column (revenue in millions)
    constants: {source: maven}     # fixed values for canonical columns
    keep_unmapped: true            # other source columns become custom attributes
    skip_empty: [topic]            # rows without these are 'no data': skipped and counted
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from abmkit.errors import ConfigError, InputError, Problem


class Mapping(BaseModel):
    """How one source's columns map onto one canonical table."""

    model_config = ConfigDict(extra="forbid")

    table: str | None = Field(None, description="Canonical table this mapping is for.")
    extends: str | None = Field(None, description="Preset to start from.")
    header: bool | None = Field(None, description="Whether the file has a header row.")
    names: list[str] | None = Field(None, description="Column names of a header-less file.")
    columns: dict[str, str] = Field(default_factory=dict, description="Source → canonical.")
    scale: dict[str, float] = Field(default_factory=dict, description="Multipliers.")
    constants: dict[str, str] = Field(default_factory=dict, description="Fixed values.")
    keep_unmapped: bool = Field(True, description="Keep other columns as custom attributes.")
    week_from_filename: bool = Field(False, description="Take intent week from YYYYMMDD in name.")
    skip_empty: list[str] = Field(
        default_factory=list,
        description="Canonical columns whose empty value means 'no data' rather than an error: "
        "such rows are skipped and counted, not rejected.",
    )
    encoding: str | None = Field(None, description="Force a file encoding, e.g. cp1252.")

    def merged_over(self, base: Mapping) -> Mapping:
        """This mapping's settings on top of `base` (columns are added, not replaced)."""
        data = base.model_dump()
        mine = self.model_dump(exclude_unset=True)
        for key in ("columns", "scale", "constants"):
            data[key] = {**data[key], **mine.pop(key, {})}
        data.update(mine)
        data["extends"] = None
        return Mapping.model_validate(data)


def fold(name: str) -> str:
    """Compare column names case-, space- and punctuation-insensitively."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def load_mapping_file(path: Path) -> Mapping:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read mapping: {exc}") from None
    return mapping_from_dict(data, str(path))


def mapping_from_dict(data: dict, source: str) -> Mapping:
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source}: invalid mapping: {details}") from None


def plan_columns(
    mapping: Mapping, source_columns: list[str], canonical: list[str], file: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Decide, for one file, canonical column → source column and attribute name → source column.

    Source columns named like a canonical column map to it without being listed.
    """
    by_fold = {fold(c): c for c in source_columns}
    wanted = {fold(src): dst for src, dst in mapping.columns.items()}
    known = {fold(c): c for c in canonical}
    targets: dict[str, str] = {}
    attributes: dict[str, str] = {}
    problems: list[Problem] = []
    for key, src in by_fold.items():
        dst = wanted.get(key) or known.get(key)
        if dst is None:
            if mapping.keep_unmapped and not src.startswith("column"):
                attributes[src] = src
            continue
        if dst == "ignore":
            continue
        if dst.startswith("attr:"):
            attributes[dst[5:]] = src
        elif dst not in canonical:
            problems.append(Problem(file, None, src, f"mapped to unknown column {dst!r}"))
        elif dst in targets:
            continue  # the first source column listed for a target wins
        else:
            targets[dst] = src
    if problems:
        raise InputError(problems)
    return targets, attributes
