"""Compiled statements kept from one process to the next (`abmkit.warehouse.statements`): the
digest names an expression the same way in every process and tells different ones apart, the
file is a cache that a damaged or foreign copy cannot mislead, and a new process's incremental
refresh runs the statements an earlier one compiled and stores what a fresh compile would."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import ibis
import pytest

from abmkit.app import Abm
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.statements import KEPT, StatementFile, Unkept, digest
from conftest import ok, write_csv
from test_incremental import TOUCH_HEADER, _pick, _stored, demo_ws  # noqa: F401 (a fixture)
from test_score import PRICING

EXPRESSION = """
import datetime as dt
import ibis
t = ibis.table({"a": "int64", "b": "string", "ts": "timestamp"}, name="touches")
e = t.filter((t.a > 3) & (t.ts <= ibis.literal(dt.datetime(2026, 1, 2, 3, 4))))
e = e.group_by("b").agg(n=e.count(), s=e.a.sum(), top=e.b.upper().isin(["X", "Y"]).any())
"""


def _expression(**changes: str) -> ibis.Expr:
    code = EXPRESSION
    for old, new in changes.items():
        code = code.replace(old, new)
    scope: dict = {}
    exec(code, scope)
    return scope["e"]


def test_the_digest_is_the_same_in_every_process():
    here = digest(_expression().op())
    script = EXPRESSION + "from abmkit.warehouse.statements import digest\nprint(digest(e.op()))"
    for seed in ("1", "2"):  # Python's own string hashes differ from one process to the next
        env = os.environ | {"PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        assert out.stdout.strip() == here


@pytest.mark.parametrize("old,new", [
    ("a > 3", "a > 4"),                                # a literal
    ("3, 4)", "3, 5)"),                                # a moment
    ('name="touches"', 'name="intent"'),               # a table
    ('"a": "int64"', '"a": "int32"'),                  # a column's type
    ('["X", "Y"]', '["Y", "X"]'),                      # the order of a list
    ("s=e.a.sum()", "s=e.a.mean()"),                   # an operation
    ("n=e.count(), s=", "s=e.a.sum(), n=e.count(), _="),  # the order of columns
])  # fmt: skip
def test_the_digest_tells_different_expressions_apart(old, new):
    assert old in EXPRESSION
    assert digest(_expression(**{old: new}).op()) != digest(_expression().op())


def test_rows_held_in_python_are_not_named_by_a_digest():
    t = ibis.memtable({"a": [1, 2]})
    with pytest.raises(Unkept):
        digest(t.filter(t.a > 1).op())


def test_the_file_keeps_the_latest_statements_and_ignores_a_damaged_or_foreign_one(tmp_path):
    path = tmp_path / "cache" / "statements.json"
    kept = StatementFile(path, "duckdb")
    for i in range(KEPT + 5):
        kept.put(f"k{i}", f"SELECT {i}")
    kept.save()
    assert os.listdir(path.parent) == ["statements.json"]  # written whole, nothing left beside
    again = StatementFile(path, "duckdb")
    assert again.get("k4") is None and again.get("k5") == "SELECT 5"  # the oldest went first
    assert again.get(f"k{KEPT + 4}") == f"SELECT {KEPT + 4}"
    assert StatementFile(path, "postgres").get("k5") is None  # another dialect's SQL
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"sqlglot": "0.0.1"}))
    assert StatementFile(path, "duckdb").get("k5") is None  # another compiler's SQL
    path.write_text('{"ibis": ')
    damaged = StatementFile(path, "duckdb")
    assert damaged.get("k5") is None
    damaged.put("k", "SELECT 1")
    damaged.save()  # replaced by a sound file
    assert StatementFile(path, "duckdb").get("k") == "SELECT 1"


def _one_touch(abm: Abm, folder: Path, account: dict, hours: int) -> None:
    latest = abm.warehouse.table("touches").ts.max().execute()
    stamp = (latest + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")
    csv = write_csv(folder / f"t{hours}.csv", TOUCH_HEADER,
                    [[stamp, "", account["domain"], "meeting", PRICING]])  # fmt: skip
    ok(abm.ingest("touches", [csv])[0])


def test_a_new_process_runs_the_statements_an_earlier_one_compiled(demo_ws, tmp_path,  # noqa: F811
                                                                   monkeypatch):  # fmt: skip
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    for copy in (kept, fresh):
        shutil.copytree(demo_ws, copy, ignore=shutil.ignore_patterns("market", "cache"))
    with Abm.open(kept) as abm:
        picked = _pick(abm, 2)
        _one_touch(abm, tmp_path, picked[0], 1)
        assert abm.score(incremental=True).mode == "incremental"
    statements = Abm.open(kept).workspace.statements
    assert len(json.loads(statements.read_text())["statements"]) > 20

    read: list[tuple[ibis.Expr, str]] = []
    compiled: list[str] = []
    original = Warehouse._compile_new

    def spying(self: Warehouse, t: ibis.Expr) -> str:
        sql = original(self, t)
        read.append((t, sql))
        return sql

    monkeypatch.setattr(Warehouse, "_compile_new", spying)
    with Abm.open(kept) as abm:  # a new connection: nothing compiled in memory
        _one_touch(abm, tmp_path, picked[1], 2)
        read.clear()
        real_compile = abm.warehouse.con.compile
        monkeypatch.setattr(abm.warehouse.con, "compile",
                            lambda t, **kw: compiled.append(t) or real_compile(t, **kw))  # fmt: skip
        result = abm.score(incremental=True)
        assert (result.mode, result.rescored) == ("incremental", 1)
        assert len(read) > 20 and compiled == []  # every statement came from the file
        # ... and each is what the compiler makes of its expression today
        assert all(sql == real_compile(t) for t, sql in read)
        monkeypatch.undo()
        with Abm.open(fresh) as other:  # the same touches, every statement compiled afresh
            for n, account in enumerate(picked, start=1):
                _one_touch(other, tmp_path, account, n)
                assert other.score(incremental=True).mode == "incremental"
            assert _stored(other) == _stored(abm)


def _kept(abm: Abm) -> dict[str, str]:
    path = abm.workspace.statements
    return json.loads(path.read_text())["statements"] if path.exists() else {}


def test_a_full_refresh_keeps_no_statements(demo_ws, tmp_path):  # noqa: F811
    """A full refresh writes its moment into its statements (the engine filters millions of
    touches by a constant): never the same text twice, so none is kept."""
    ws = tmp_path / "ws"
    shutil.copytree(demo_ws, ws, ignore=shutil.ignore_patterns("market", "cache"))
    with Abm.open(ws) as abm:
        abm.score()
        assert _kept(abm) == {}
    # asked for an incremental refresh that turns out a full one: only the statements that
    # found out are kept (they hold no moment)
    with Abm.open(ws, {"weights": {"fit": 0.2}}) as abm:
        _one_touch(abm, tmp_path, _pick(abm, 1)[0], 1)
        assert abm.score(incremental=True).mode == "full"
        before = _kept(abm)
        assert len(before) < 10
        assert not any("MAKE_TIMESTAMP" in sql for sql in before.values())
        _one_touch(abm, tmp_path, _pick(abm, 2)[1], 2)
        assert abm.score(incremental=True).mode == "incremental"  # from there on, kept
        after = _kept(abm)
        assert len(after) > len(before) + 20
        assert not any("MAKE_TIMESTAMP" in sql for sql in after.values())
