"""Malformed files are refused whole, named precisely, and leave every data table as it was;
a load killed just before its commit leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from abmkit.app import Abm
from abmkit.config.workspace import init_workspace
from abmkit.errors import InputError
from conftest import ABM_BIN, ok, snapshot, write_csv, write_text


def _missing_required(d: Path) -> Path:
    return write_csv(d / "no_name.csv", ["industry", "employees"], [["Software", "10"]])


def _wrong_type(d: Path) -> Path:
    return write_csv(d / "wrong_type.csv", ["name", "domain", "employees"],
                     [["Acme", "acme.com", "12"], ["Globex", "globex.io", "abc"]])  # fmt: skip


def _bad_date(d: Path) -> Path:
    return write_csv(d / "bad_date.csv", ["opportunity_id", "amount", "closed_at"],
                     [["o1", "10", "2025-01-02"], ["o2", "20", "2025-13-45"]])  # fmt: skip


def _binary(d: Path) -> Path:
    path = d / "binary.csv"
    path.write_bytes(b"name,domain\n\x00\x01\x02PK\x03\x04\x00\x00garbage\xff\xfe\x00")
    return path


def _utf16_no_bom(d: Path) -> Path:
    return write_text(d / "utf16.csv", "name,domain\nAcme,acme.com\n", encoding="utf-16-le")


def _duplicate_keys(d: Path) -> Path:
    return write_csv(d / "dupes.csv", ["contact_id", "email", "title"],
                     [["c1", "ann@acme.com", "CEO"], ["c2", "bo@acme.com", "CTO"],
                      ["c1", "ann@acme.com", "CFO"]])  # fmt: skip


def _empty(d: Path) -> Path:
    path = d / "empty.csv"
    path.write_bytes(b"")
    return path


def _header_only(d: Path) -> Path:
    return write_text(d / "header_only.csv", "name,domain,employees\n")


def _huge_field(d: Path) -> Path:
    return write_csv(
        d / "huge.csv",
        ["name", "domain", "notes"],
        [["Acme", "acme.com", "short"], ["Globex", "globex.io", "x" * 10_000_000]],
    )


def _truncated(d: Path) -> Path:
    text = "name,domain,employees\nAcme,acme.com,12\nGlobex,globex.io,30\nInitech,initech.c"
    return write_text(d / "truncated.csv", text)


# (table, builder, text the message must contain, row, column)
CORPUS: dict[str, tuple[str, Callable[[Path], Path], str, int | None, str | None]] = {
    "missing_required_column": ("accounts", _missing_required, "missing required column", 1,
                                None),
    "wrong_type": ("accounts", _wrong_type, "not a whole number: 'abc'", 3, "employees"),
    "bad_date": ("opportunities", _bad_date, "not a date: '2025-13-45'", 3, "closed_at"),
    "binary_nul_bytes": ("accounts", _binary, "NUL bytes", None, None),
    "utf16_without_bom": ("accounts", _utf16_no_bom, "not a text file", None, None),
    "duplicate_keys": ("contacts", _duplicate_keys, "duplicate key 'c1'", 4, "contact_id"),
    "empty_file": ("accounts", _empty, "empty", None, None),
    "header_only": ("accounts", _header_only, "no rows", None, None),
    "ten_mb_field": ("accounts", _huge_field, "ingest.max_field_bytes", 3, "notes"),
    "truncated_last_row": ("accounts", _truncated, "too few fields", 4, None),
}  # fmt: skip


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Abm:
    """A DuckDB workspace with a little of everything loaded (shared: nothing may change it)."""
    ws = tmp_path_factory.mktemp("malformed") / "ws"
    init_workspace(ws)
    abm = Abm.open(ws)
    d = ws / "seed"
    ok(abm.ingest("accounts", [write_csv(d / "acc.csv", ["name", "domain", "employees", "tier"],
                                         [["Acme", "acme.com", "12", "gold"]])])[0])  # fmt: skip
    ok(abm.ingest("contacts", [write_csv(d / "con.csv", ["contact_id", "email"],
                                         [["c9", "zed@acme.com"]])])[0])  # fmt: skip
    ok(abm.ingest("opportunities", [write_csv(d / "opp.csv", ["opportunity_id", "account_name"],
                                              [["o9", "Acme"]])])[0])  # fmt: skip
    ok(abm.ingest("accounts", [write_csv(d / "q.csv", ["name", "employees"],
                                         [["Hooli", "x"]])], quarantine=True)[0])  # fmt: skip
    yield abm
    abm.close()


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_file_is_rejected_whole_and_changes_nothing(seeded, tmp_path, case):
    table, build, text, row, column = CORPUS[case]
    path = build(tmp_path)
    before = snapshot(seeded)
    assert before["accounts"] and before["quarantine"]  # the comparison is not of empty tables
    (result,) = seeded.ingest(table, [path])
    assert isinstance(result, InputError), f"{case} was loaded: {result}"
    message = str(result)
    assert str(path) in message
    assert text in message
    assert result.problems and all(p.file == str(path) for p in result.problems)
    if row is not None:
        assert any(p.row == row for p in result.problems), message
        assert f"row {row}" in message
    if column is not None:
        assert any(p.row == row and p.column == column for p in result.problems), message
        assert repr(column) in message
    assert snapshot(seeded) == before
    loads = seeded.warehouse.table("loads")
    rejected = loads.filter((loads.file == str(path)) & (loads.outcome == "rejected"))
    assert rejected.count().execute() == 1
    assert text in rejected.message.to_pyarrow().to_pylist()[0]


def test_ingest_file_raises_the_input_error(seeded, tmp_path):
    from abmkit.ingest.pipeline import ingest_file

    path = _wrong_type(tmp_path)
    with pytest.raises(InputError, match="employees"):
        ingest_file(seeded.warehouse, seeded.settings, "accounts", path)


def test_a_rejected_file_does_not_stop_the_others(seeded, tmp_path):
    good = write_csv(tmp_path / "good.csv", ["name", "domain"], [["Wonka", "wonka.com"]])
    bad = _wrong_type(tmp_path)
    results = seeded.ingest("accounts", [bad, good])
    assert isinstance(results[0], InputError)
    assert ok(results[1]).inserted == 1
    domains = set(seeded.warehouse.table("accounts").domain.to_pyarrow().to_pylist())
    assert "wonka.com" in domains and "globex.io" not in domains


# -- crash test ---------------------------------------------------------------------------------
def _big_touches(path: Path, rows: int = 200_000) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("ts,kind,email,url\n")
        for i in range(rows):
            fh.write(f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,web_visit,"
                     f"p{i % 5000}@acme{i % 300}.com,/page/{i}\n")  # fmt: skip
    return path


def _run_abm(args: list[str], env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    full = {**os.environ, **(env or {})}
    full.pop("ABMKIT_TEST_PAUSE_BEFORE_COMMIT", None) if env is None else None
    return subprocess.Popen([str(ABM_BIN), *args], env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def _crash_then_load(tmp_path: Path, extra: list[str]) -> Abm:
    ws = tmp_path / "ws"
    init_workspace(ws)
    big = _big_touches(tmp_path / "big_touches.csv")
    marker = tmp_path / "paused.marker"
    args = ["ingest", "touches", str(big), "-w", str(ws), *extra]
    proc = _run_abm(args, {"ABMKIT_TEST_PAUSE_BEFORE_COMMIT": str(marker)})
    try:
        deadline = time.monotonic() + 150
        while not marker.exists():
            assert proc.poll() is None, f"abm ended before the pause: {proc.communicate()}"
            assert time.monotonic() < deadline, "abm never reached the commit"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    abm = Abm.open(ws, _overrides(extra))
    assert abm.warehouse.count("touches") == 0
    loads = abm.warehouse.table("loads")
    assert loads.filter(loads.file == str(big)).count().execute() == 0
    abm.close()

    done = _run_abm(args)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert "Loaded into touches" in out
    abm = Abm.open(ws, _overrides(extra))
    assert abm.warehouse.count("touches") == 200_000
    (rec,) = abm.loads().to_pylist()
    assert (rec["file"], rec["outcome"], rec["inserted"]) == (str(big), "ok", 200_000)
    return abm


def _overrides(extra: list[str]) -> dict:
    if not extra:
        return {}
    return {"warehouse": {"url": extra[1].split("=", 1)[1]}}


@pytest.mark.slow
def test_kill_before_commit_leaves_nothing_duckdb(tmp_path):
    _crash_then_load(tmp_path, []).close()


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_before_commit_leaves_nothing_postgres(tmp_path, postgres_url):
    _crash_then_load(tmp_path, ["--set", f"warehouse.url={postgres_url}"]).close()
