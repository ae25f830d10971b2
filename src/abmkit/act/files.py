"""The files the outbox writes under `<workspace>/outbox/`, each replaced atomically.

* `audiences/<channel>/<audience>.csv` (Meta: `.json`): an ad audience in its platform's upload
  format, rewritten whole with every member sent so far.
* `<channel>/<YYYY-MM-DD>.csv` for tasks, sequences, CRM updates and direct mail: one row per
  action, the action's id and idempotency key in the first columns. Adding a row rewrites the
  file unless the action's id is already in it, so a row written just before a crash is not
  written twice when the action is sent again.
* `dry_run/<channel>/<action id>.eml|.json`: the exact bytes a connector that is not live would
  have sent.

Every file is written to a temporary file in the same folder, flushed to disk, then moved over
the old one (`os.replace`): a reader, or a crash, sees the old file or the new one, never half.
Read-then-rewrite steps run under an exclusive lock on a `.lock` file next to their target, so
two executors on one machine cannot lose each other's rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from abmkit.act import audiences

ID_COLUMNS = ("action_id", "idempotency_key", "format")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
AUDIENCE_KINDS = {
    "linkedin_audience": ("companies", "contacts"),
    "google_audience": ("contacts",),
    "meta_audience": ("contacts",),
}


def is_safe_name(value: object) -> bool:
    """Whether `value` can name a file of its own: letters, digits, `.`, `_`, `-`, no `..`."""
    return isinstance(value, str) and bool(SAFE_NAME.fullmatch(value)) and ".." not in value


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s lock file (released by the OS if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# -- dry run ------------------------------------------------------------------------------------
def dry_run(outbox: Path, channel: str, action_id: str, suffix: str, data: bytes) -> Path:
    path = outbox / "dry_run" / channel / f"{action_id}{suffix}"
    write_atomically(path, data)
    return path


# -- one row per action -------------------------------------------------------------------------
def day_file(outbox: Path, channel: str, day: dt.date) -> Path:
    return outbox / channel / f"{day.isoformat()}.csv"


def append_row(path: Path, ids: tuple[str, str, str], row: Mapping[str, Any],
               earlier: Iterable[Path] = ()) -> Path:  # fmt: skip
    """Add the row of the action `ids` = (id, key, format) to `path` unless `path` or one of the
    `earlier` files has it already; the file that holds it. A column the file lacks is added."""
    with locked(path):
        for written in (path, *earlier):
            if ids[0] in _action_ids(written):
                return written
        header, rows = _read(path)
        cells = {k: _cell(v) for k, v in row.items() if k not in ID_COLUMNS}
        line = dict(zip(ID_COLUMNS, ids, strict=True)) | cells
        header += [c for c in line if c not in header]
        write_atomically(path, _csv(header, [*rows, line]).encode())
    return path


def _action_ids(path: Path) -> set[str]:
    return {r.get("action_id", "") for r in _read(path)[1]}


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.exists():
        return list(ID_COLUMNS), []
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
    return list(reader.fieldnames or ID_COLUMNS), list(reader)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _csv(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- ad audiences -------------------------------------------------------------------------------
def audience_file(outbox: Path, channel: str, audience: str) -> Path:
    suffix = ".json" if channel == "meta_audience" else ".csv"
    return outbox / "audiences" / channel / f"{audience}{suffix}"


def audience_text(channel: str, kind: str, members: list[dict[str, Any]]) -> str:
    """The whole audience in its platform's upload format (`kind`: one of AUDIENCE_KINDS)."""
    if channel == "meta_audience":
        payload = audiences.meta_custom_audience(members)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if channel == "google_audience":
        return audiences.google_customer_match(members)
    if kind == "companies":
        return audiences.linkedin_companies(members)
    return audiences.linkedin_contacts(members)


def distinct_members(payloads: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of these payloads, each member once, in the order first seen."""
    seen: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        for row in payload.get("rows") or []:
            seen.setdefault(json.dumps(row, sort_keys=True, default=str), dict(row))
    return list(seen.values())
