"""Compiled statements kept from one process to the next.

Building an incremental refresh's fifty-odd statements and compiling them to SQL costs more than
running them for one account; a running process does it once (`Warehouse.compile` keeps what it
compiled), but a new one — `abm score --incremental` from cron, a restarted server — would pay
for it on every start. So while a caller asks for it (`Warehouse.keeping_statements`), the SQL of
each statement is also kept in a file of the workspace, under a digest of the expression that is
the same in every process: the same expression over the same tables compiles to the same SQL.
A statement that holds a moment (a date or time written into its text) is not kept: the next one
will hold another.

The digest covers everything the compiler reads: every operation, its arguments and literals,
every table's name, namespace and schema, and the versions of Ibis and sqlglot and the SQL
dialect (in the file's header: a file of other versions is started afresh). An expression the
digest cannot vouch for (rows held in memory, or an argument of an unknown kind) is simply not
kept. The file is a cache: deleting it is always safe, and a damaged one is ignored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import enum
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import ibis
import ibis.expr.operations as ops
import sqlglot
from ibis.common.grounds import Concrete

KEPT = 500
"""How many statements the file keeps (the oldest go first): a refresh has about a hundred, and
each change of the scoring settings makes new ones."""
PLAIN = (str, int, float, bool, bytes, type(None), decimal.Decimal, dt.datetime, dt.date,
         dt.time, dt.timedelta, uuid.UUID, enum.Enum)  # fmt: skip
"""Argument values whose `repr` names them exactly."""


class Unkept(Exception):
    """An expression whose digest cannot be vouched for (its statement is not kept)."""


def digest(node: Concrete) -> str:
    """A digest of an Ibis expression's operation that is the same in every process (Python's
    own hashes of strings are not)."""
    try:
        return _digest(node, {}).hex()
    except RecursionError:  # deeper than Python recurses (the compiler copes): not kept
        raise Unkept("an expression nested too deep") from None


def _digest(value: object, seen: dict[int, tuple[object, bytes]]) -> bytes:
    known = seen.get(id(value))  # (operations shared by several parts are digested once)
    if known is not None:
        return known[1]
    h = hashlib.blake2b(digest_size=16)
    if isinstance(value, ops.InMemoryTable):  # rows held in Python: not named by their digest
        raise Unkept(type(value).__name__)
    if isinstance(value, ops.Literal) and value.dtype.is_temporal():
        raise Unkept("a moment")  # (a statement that holds one is new each time it changes)
    if isinstance(value, Concrete):  # an operation, a data type, a schema, a namespace
        h.update(f"{type(value).__module__}.{type(value).__qualname__}(".encode())
        for name, arg in zip(value.__argnames__, value.__args__, strict=True):
            if name == "source" and isinstance(value, ops.DatabaseTable):
                continue  # the connection: the file belongs to one workspace's warehouse
            h.update(name.encode() + b"=" + _digest(arg, seen))
    elif isinstance(value, Mapping):
        h.update(b"{")
        for key, item in value.items():
            h.update(_digest(key, seen) + b":" + _digest(item, seen))
    elif isinstance(value, tuple | list):
        h.update(b"[" + b"".join(_digest(item, seen) for item in value))
    elif isinstance(value, frozenset):
        h.update(b"<" + b"".join(sorted(_digest(item, seen) for item in value)))
    elif isinstance(value, PLAIN):
        h.update(f"{type(value).__qualname__}:{value!r}".encode())
    else:
        raise Unkept(type(value).__name__)
    out = h.digest()
    if isinstance(value, Concrete):  # kept alive with its digest: its id is not reused
        seen[id(value)] = (value, out)
    return out


class StatementFile:
    """The statements kept in one file (`path`), for one SQL dialect."""

    def __init__(self, path: Path, dialect: str):  # noqa: D107
        self.path = path
        self.header = {"ibis": ibis.__version__, "sqlglot": sqlglot.__version__,
                       "dialect": dialect}  # fmt: skip
        self._sql: dict[str, str] | None = None  # read on first use
        self._added = 0

    def get(self, key: str) -> str | None:
        return self._entries().get(key)

    def put(self, key: str, sql: str) -> None:
        self._entries()[key] = sql
        self._added += 1

    def save(self) -> None:
        """Write the file if anything was added (atomically: a reader sees the old file or the
        new one, never half of one). A file that cannot be written is left as it is: the work
        that compiled the statements is done, and the next process compiles them again."""
        if not self._added or self._sql is None:
            return
        entries = list(self._sql.items())[-KEPT:]
        self._added = 0
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".statements-")
            with os.fdopen(fd, "w") as f:
                json.dump(self.header | {"statements": dict(entries)}, f)
            os.replace(temporary, self.path)
        except OSError:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    def _entries(self) -> dict[str, str]:
        if self._sql is None:
            self._sql = {}
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                data = json.loads(self.path.read_text())
                if all(data.get(k) == v for k, v in self.header.items()):
                    self._sql = {str(k): str(v) for k, v in data["statements"].items()}
        return self._sql
