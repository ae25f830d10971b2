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
import ibis
t = ibis.table({"a": "int64", "b": "string", "ts": "timestamp"}, name="touches")
e = t.filter((t.a > 3) & (t.ts > t.ts.max() - ibis.interval(days=2)))
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
    ("days=2", "days=3"),                              # an interval
    ('name="touches"', 'name="intent"'),               # a table
    ('"a": "int64"', '"a": "int32"'),                  # a column's type
    ('["X", "Y"]', '["Y", "X"]'),                      # the order of a list
    ("s=e.a.sum()", "s=e.a.mean()"),                   # an operation
    ("n=e.count(), s=", "s=e.a.sum(), n=e.count(), _="),  # the order of columns
])  # fmt: skip
def test_the_digest_tells_different_expressions_apart(old, new):
    assert old in EXPRESSION
    assert digest(_expression(**{old: new}).op()) != digest(_expression().op())


def test_rows_held_in_python_moments_and_deep_nests_are_not_named_by_a_digest():
    t = ibis.memtable({"a": [1, 2]})
    with pytest.raises(Unkept):
        digest(t.filter(t.a > 1).op())
    moment = _expression(**{"t.ts.max()": "ibis.literal(dt.datetime(2026, 1, 2))",
                            "import ibis": "import datetime as dt, ibis"})  # fmt: skip
    with pytest.raises(Unkept):
        digest(moment.op())
    deep = ibis.table({"a": "int64"}, name="touches")
    for i in range(600):  # (the compiler merges these; the digest would recurse too deep)
        deep = deep.mutate(b=deep.a + i).filter(deep.a > i)
    with pytest.raises(Unkept):
        digest(deep.op())


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
    blocked = tmp_path / "file" / "statements.json"
    (tmp_path / "file").write_text("a file where the folder would be")
    unwritable = StatementFile(blocked, "duckdb")
    unwritable.put("k", "SELECT 1")
    unwritable.save()  # a cache that cannot be written costs a compile later, never a failure
    assert unwritable.get("k") == "SELECT 1" and (tmp_path / "file").is_file()


def _one_touch(abm: Abm, folder: Path, account: dict, hours: int) -> None:
    latest = abm.warehouse.table("touches").ts.max().execute()
    stamp = (latest + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")
    csv = write_csv(folder / f"t{hours}.csv", TOUCH_HEADER,
                    [[stamp, "", account["domain"], "meeting", PRICING]])  # fmt: skip
    ok(abm.ingest("touches", [csv])[0])


def _kept(abm: Abm) -> dict[str, str]:
    path = abm.workspace.statements
    return json.loads(path.read_text())["statements"] if path.exists() else {}


class Spy:
    """Every statement a connection's compiler makes (`made`), and every statement the
    warehouse asks for that is not in its memory (`asked`: expression and SQL, from the file or
    the compiler), from now on."""

    def __init__(self, abm: Abm, monkeypatch: pytest.MonkeyPatch):  # noqa: D107
        self.made: list[str] = []
        self.asked: list[tuple[ibis.Expr, str]] = []
        self.compiler = abm.warehouse.con.compile
        original = Warehouse._compile_new

        def asking(wh: Warehouse, t: ibis.Expr) -> str:
            sql = original(wh, t)
            self.asked.append((t, sql))
            return sql

        def making(t: ibis.Expr, **kw: object) -> str:
            sql = self.compiler(t, **kw)
            self.made.append(sql)
            return sql

        monkeypatch.setattr(Warehouse, "_compile_new", asking)
        monkeypatch.setattr(abm.warehouse.con, "compile", making)


def test_a_new_process_runs_the_statements_an_earlier_one_compiled(demo_ws, tmp_path,  # noqa: F811
                                                                   monkeypatch):  # fmt: skip
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    for copy in (kept, fresh):
        shutil.copytree(demo_ws, copy, ignore=shutil.ignore_patterns("market", "cache"))
    with Abm.open(kept) as abm:
        picked = _pick(abm, 2)
        _one_touch(abm, tmp_path, picked[0], 1)
        assert abm.score(incremental=True).mode == "incremental"
        assert len(_kept(abm)) > 20
    with Abm.open(kept) as abm:  # a new connection: nothing compiled in memory
        _one_touch(abm, tmp_path, picked[1], 2)
        spy = Spy(abm, monkeypatch)
        result = abm.score(incremental=True)
        monkeypatch.undo()
        assert (result.mode, result.rescored) == ("incremental", 1)
        assert len(spy.asked) > 20 and spy.made == []  # every statement came from the file
        # ... and each is what the compiler makes of its expression today
        assert all(sql == spy.compiler(t) for t, sql in spy.asked)
        with Abm.open(fresh) as other:  # the same touches, every statement compiled afresh
            for n, account in enumerate(picked, start=1):
                _one_touch(other, tmp_path, account, n)
                assert other.score(incremental=True).mode == "incremental"
            assert _stored(other) == _stored(abm)


def test_a_full_refresh_compiles_only_the_statements_that_hold_its_moment(demo_ws, tmp_path,  # noqa: F811
                                                                          monkeypatch):  # fmt: skip
    """A full refresh writes its moment into the statements that scan the touches and intent
    (the engine skips old rows by it): those are compiled each time and never kept. The others
    read the moment from a table, so the next process, scoring as of a later moment, reads them
    from the file (but for a statement the earlier refresh had no rows for, kept now)."""
    ws = tmp_path / "ws"
    shutil.copytree(demo_ws, ws, ignore=shutil.ignore_patterns("market", "cache"))
    picked = _pick(Abm.open(ws), 2)
    with Abm.open(ws) as abm:
        _one_touch(abm, tmp_path, picked[0], 30)  # a later moment for everyone
        assert abm.score().changed.updated > 0
        kept = _kept(abm)
        assert len(kept) > 30
        assert not any("MAKE_TIMESTAMP" in sql for sql in kept.values())
        _one_touch(abm, tmp_path, picked[1], 60)  # later still
    with Abm.open(ws) as abm:
        spy = Spy(abm, monkeypatch)
        result = abm.score()
        monkeypatch.undo()
        assert result.mode == "full" and result.changed.updated > 0
        assert all(sql == spy.compiler(t) for t, sql in spy.asked)
    moments = [sql for sql in spy.made if "MAKE_TIMESTAMP" in sql]
    assert 0 < len(moments) <= 6  # the scans of touches and intent (with a model: features)
    assert len(spy.made) < len(spy.asked) / 5  # the rest came from the file
    now = _kept(abm)
    assert set(spy.made) - set(moments) <= set(now.values())
    assert not set(moments) & set(now.values())
