"""`abm score --incremental`: only the accounts touched by new data are re-scored, and the result
is what a full refresh would store. Real warehouses, the real simulator and ingest path."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from abmkit.app import Abm
from abmkit.config.workspace import init_workspace
from abmkit.demo import run_demo
from conftest import ok, rows_of, write_csv
from test_score import AS_OF, PRICING, market, scores, when

TOUCH_HEADER = ["timestamp", "email", "domain", "kind", "url"]


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Path:
    """A simulated market of 400 accounts, loaded and fully scored by `abm demo`."""
    ws = tmp_path_factory.mktemp("incremental") / "ws"
    run_demo(ws, accounts=400, months=6, seed=5, replay_weeks=0, write_report=False)
    return ws


@pytest.fixture
def ws(demo_ws, tmp_path) -> Path:
    """A private copy of the demo workspace, so each test starts from the same scores."""
    copy = tmp_path / "ws"
    shutil.copytree(demo_ws, copy, ignore=shutil.ignore_patterns("market"))
    return copy


def _stored(abm: Abm) -> dict[str, list]:
    """Scores and reasons as stored, without the time each row was written."""
    rows = {t: rows_of(abm, t) for t in ("account_scores", "score_reasons")}
    for r in rows["account_scores"]:
        r.pop("scored_at")
    return {t: sorted(sorted((k, str(v)) for k, v in r.items()) for r in rs)
            for t, rs in rows.items()}  # fmt: skip


def _pick(abm: Abm, n: int) -> list[dict]:
    acc = abm.warehouse.table("accounts")
    picked = acc.filter(acc.domain.notnull()).order_by("account_id").limit(n)
    return picked.select("account_id", "domain").to_pyarrow().to_pylist()


def test_incremental_rescores_the_touched_accounts_as_a_full_refresh_would(ws, tmp_path):
    with Abm.open(ws) as abm:
        latest = abm.warehouse.table("touches").ts.max().execute()
        week = abm.warehouse.table("intent").week.max().execute()
        picked = _pick(abm, 4)
        # New rows at or before the latest moment, so `as_of` (the latest data) stays put and
        # the accounts not touched keep exactly the scores a full refresh would give them.
        stamp = (latest - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
        touches = [[stamp, "", a["domain"], kind, PRICING]
                   for a in picked[:3] for kind in ("web_visit", "meeting")]  # fmt: skip
        ok(abm.ingest("touches", [write_csv(tmp_path / "t.csv", TOUCH_HEADER, touches)])[0])
        intent = [[str(week), picked[3]["domain"], "data warehousing", "91"]]
        ok(abm.ingest("intent", [write_csv(tmp_path / "i.csv", ["week", "domain", "topic",
                                                                "score"], intent)])[0])  # fmt: skip
        before = {r["account_id"]: r for r in rows_of(abm, "account_scores")}
        result = abm.score(incremental=True)
        assert result.mode == "incremental" and result.rescored == 4
        assert result.accounts == len(before)
        after = {r["account_id"]: r for r in rows_of(abm, "account_scores")}
        for a in picked[:3]:
            assert after[a["account_id"]]["engagement"] > before[a["account_id"]]["engagement"]
        assert after[picked[3]["account_id"]]["intent_3p"] >= before[picked[3]["account_id"]][
            "intent_3p"]  # fmt: skip
        untouched = set(before) - {a["account_id"] for a in picked}
        placed = ("tier", "cluster", "cluster_label")
        moved = {k for k in untouched if any(after[k][c] != before[k][c] for c in placed)}
        assert all(after[k]["scored_at"] == before[k]["scored_at"] for k in untouched - moved)
        incremental = _stored(abm)
        full = abm.score()
        assert full.mode == "full"
        # Too few closed-won customers here for a lookalike model: said, and left empty.
        assert any(n.startswith("lookalike not trained: ") for n in full.notes), full.notes
        assert all(r["lookalike"] is None for r in rows_of(abm, "account_scores"))
        assert (full.changed.inserted, full.changed.updated, full.tier_changes) == (0, 0, 0)
        assert _stored(abm) == incremental


def test_incremental_with_nothing_new_changes_nothing(ws):
    with Abm.open(ws) as abm:
        before = _stored(abm)
        history = len(rows_of(abm, "score_history"))
        result = abm.score(incremental=True)
        assert (result.mode, result.rescored) == ("incremental", 0)
        assert "nothing loaded since the last refresh" in result.notes[0]
        assert _stored(abm) == before and len(rows_of(abm, "score_history")) == history
        # and it still says where everyone stands: every row unchanged, the tiers as stored
        assert result.changed.unchanged == result.accounts == len(before["account_scores"])
        full = abm.score()
        assert [(c.tier, c.capacity, c.filled) for c in result.tiers] == [
            (c.tier, c.capacity, c.filled) for c in full.tiers]  # fmt: skip
        assert [c.cut for c in result.tiers] == pytest.approx([c.cut for c in full.tiers])


@pytest.mark.parametrize("change", ["settings", "merge", "accounts", "as-of"])
def test_incremental_falls_back_to_a_full_refresh_when_it_cannot_be_exact(ws, tmp_path, change):
    overrides = {"weights": {"fit": 0.2}} if change == "settings" else None
    expected = {"settings": "scoring settings or the scoring code changed",
                "merge": "identity resolution moved rows", "accounts": "accounts were loaded",
                "as-of": "scored as of a chosen moment"}[change]  # fmt: skip
    with Abm.open(ws, overrides) as abm:
        first, second = (a["account_id"] for a in _pick(abm, 2))
        if change == "merge":
            abm.merge(second, first)
        elif change == "accounts":  # a new account: the lookalike and deal sizes learn anew
            header = ["Id", "Name", "Website", "Industry", "NumberOfEmployees"]
            row = [["NEW1", "Newco", "newco.example", "Technology", "1200"]]
            ok(abm.ingest("accounts", [write_csv(tmp_path / "a.csv", header, row)],
                          preset="simulated_crm")[0])  # fmt: skip
        elif change == "as-of":
            abm.score(abm.score().as_of - dt.timedelta(days=30))
        result = abm.score(incremental=True)
        assert result.mode == "full"
        assert any(expected in n for n in result.notes), result.notes
        ids = [r["account_id"] for r in rows_of(abm, "account_scores")]
        assert len(ids) == len(set(ids)) == result.accounts  # one row per account, always
        s = scores(abm)
        if change == "merge":
            assert second not in s and first in s
        if change == "accounts":
            assert s["NEW1"]["fit"] > 0 and s["NEW1"]["fit_bucket"]
        tiers = abm.settings.tiers
        for tier, cap in ((1, tiers.tier1_capacity), (2, tiers.tier2_capacity)):
            assert sum(1 for r in s.values() if r["tier"] == tier) <= cap
        again = abm.score(incremental=True)  # and from there on, incremental again
        assert (again.mode, again.rescored) == ("incremental", 0), again.notes


def test_an_account_pushed_out_of_its_tier_is_recorded_with_its_reason(workspace, warehouse_url,
                                                                         tmp_path):  # fmt: skip
    """Runs on DuckDB and PostgreSQL: a touched account rises, an untouched one makes room."""
    settings = {"tiers": {"tier1_capacity": 1, "tier2_capacity": 1, "tier3_capacity": 0,
                          "tier3_min_fit": 0, "hysteresis": 0.1},
                "weights": {"fit": 0.0, "intent": 0.0, "engagement": 1.0},
                "warehouse": {"url": warehouse_url}}  # fmt: skip
    with Abm.open(workspace, settings) as abm:
        _push_out(abm, tmp_path)


def _push_out(abm: Abm, tmp_path: Path) -> None:
    market(abm, tmp_path / "d", touches=[[when(1 + 0.01 * i), "", "acme.com", "web_visit",
                                          PRICING] for i in range(3)])  # fmt: skip
    visit = [[when(1.5), "", "beta.io", "web_visit", PRICING]]
    ok(abm.ingest("touches", [write_csv(tmp_path / "b.csv", TOUCH_HEADER, visit)])[0])
    abm.score()
    assert {k: r["tier"] for k, r in scores(abm).items() if r["tier"]} == {"001A": 1, "001B": 2}
    rows = [[when(1 + 0.01 * i), "", "beta.io", "meeting", PRICING] for i in range(6)]
    ok(abm.ingest("touches", [write_csv(tmp_path / "b2.csv", TOUCH_HEADER, rows)])[0])
    result = abm.score(incremental=True)
    assert result.mode == "incremental" and result.rescored == 1
    s = scores(abm)
    assert (s["001B"]["tier"], s["001A"]["tier"]) == (1, 2)
    changes = {c["account_id"]: c["reason"] for c in rows_of(abm, "tier_changes")
               if c["from_tier"] is not None}  # fmt: skip
    assert changes["001A"].startswith("fell from Tier 1 to Tier 2")
    assert changes["001B"].startswith("rose from Tier 2 to Tier 1")


def test_incremental_needs_no_as_of(tmp_path):
    init_workspace(tmp_path / "ws")
    with Abm.open(tmp_path / "ws") as abm, pytest.raises(Exception, match="leave out as_of"):
        abm.score(AS_OF, incremental=True)


def test_refreshes_and_the_account_screen_leave_no_working_tables(ws):
    """A long-running process (a server, a watch loop) must not keep each refresh's copies:
    neither its temporary tables nor the rows it held as Arrow (views of the connection)."""

    def temporary(abm: Abm) -> set[str]:
        rows = abm.warehouse.con.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
        return {r[0] for r in rows}

    with Abm.open(ws) as abm:
        before = temporary(abm)
        abm.score()
        abm.score(incremental=True)
        abm.account(_pick(abm, 1)[0]["domain"])
        assert temporary(abm) == before


def test_the_person_behind_a_touch_is_found_wherever_their_contact_belongs(abm, tmp_path):
    """Runs on DuckDB and PostgreSQL. A contact tied to no account (a personal address) visits
    from Acme's network: a full refresh reads their persona from their title, and so must an
    incremental one that copies only Acme's rows."""
    market(abm, tmp_path / "d")
    ok(abm.ingest("contacts", [write_csv(tmp_path / "c.csv", ["Id", "AccountId", "Email",
                                                              "Title"],
                                         [["c9", "", "zed@gmail.com", "Chief Financial Officer"]])],
                  preset="salesforce")[0])  # fmt: skip
    abm.score()
    touch = [[when(1), "zed@gmail.com", "acme.com", "meeting", ""]]
    ok(abm.ingest("touches", [write_csv(tmp_path / "t.csv", TOUCH_HEADER, touch)])[0])
    result = abm.score(incremental=True)
    assert (result.mode, result.rescored) == ("incremental", 1), result.notes
    acme = scores(abm)["001A"]
    assert acme["engaged_contacts"] == 1 and acme["engaged_personas"] == 1
    committee = {r["factor"]: r["reason"] for r in rows_of(abm, "score_reasons")
                 if r["account_id"] == "001A" and r["score"] == "committee"}  # fmt: skip
    assert committee["economic_buyer"].startswith("economic buyer engaged"), committee
    # Again, in the same process: the statements built by the first refresh are only run.
    built = list(abm.warehouse.prepared.values())
    again = [[when(1.2), "zed@gmail.com", "acme.com", "web_visit", PRICING]]
    ok(abm.ingest("touches", [write_csv(tmp_path / "t2.csv", TOUCH_HEADER, again)])[0])
    result = abm.score(incremental=True)
    assert (result.mode, result.rescored) == ("incremental", 1), result.notes
    assert len(built) == 1 and list(abm.warehouse.prepared.values())[0] is built[0]
    assert scores(abm)["001A"]["key_page_visits"] > acme["key_page_visits"]
    full = abm.score()
    assert (full.changed.updated, full.changed.inserted) == (0, 0)


def test_refreshes_in_one_process_reuse_what_they_built_and_score_as_a_new_process_would(
        demo_ws, tmp_path):  # fmt: skip
    """An incremental refresh builds its statements once per process (a server, a watch loop)
    and then only runs them; the moment they score as of is read from a table, not written into
    them. New touches later than any before move that moment at each step: a process that
    reuses its statements and one that builds them afresh each time store the same rows."""
    reusing, fresh = tmp_path / "reusing", tmp_path / "fresh"
    for copy in (reusing, fresh):
        shutil.copytree(demo_ws, copy, ignore=shutil.ignore_patterns("market"))
    with Abm.open(reusing) as abm:
        latest = abm.warehouse.table("touches").ts.max().execute()
        picked = _pick(abm, 3)
        built = []
        for step, account in enumerate(picked, start=1):
            stamp = (latest + dt.timedelta(hours=step)).strftime("%Y-%m-%dT%H:%M:%S")
            rows = [[stamp, "", account["domain"], "meeting", PRICING]]
            csv = write_csv(tmp_path / f"t{step}.csv", TOUCH_HEADER, rows)
            ok(abm.ingest("touches", [csv])[0])
            result = abm.score(incremental=True)
            assert (result.mode, result.rescored) == ("incremental", 1), result.notes
            built.append(list(abm.warehouse.prepared.values()))
            with Abm.open(fresh) as other:  # a new process each time: everything built anew
                ok(other.ingest("touches", [csv])[0])
                again = other.score(incremental=True)
                assert (again.mode, again.as_of) == ("incremental", result.as_of)
                assert _stored(other) == _stored(abm)
        assert all(len(b) == 1 for b in built)  # built once, run thrice:
        assert built[1][0] is built[0][0] and built[2][0] is built[0][0]


def test_a_prepared_refresh_reads_no_rows_while_it_is_built(ws):
    """Recording the steps of a prepared refresh must not read data (the steps have not run
    yet): a read is refused at once rather than answered from an empty table."""
    from abmkit.errors import AbmError
    from abmkit.score.incremental import ScopedWarehouse

    with Abm.open(ws) as abm, abm.warehouse.temporary():
        ids = abm.warehouse.stage(pa.table({"account_id": ["x"]}), prefix="one")
        view = ScopedWarehouse(abm.warehouse, ids, record=True)
        touches = view.table("touches")
        assert touches.op().name.startswith("_abmp_scoped_touches")  # a step, not yet filled
        with pytest.raises(AbmError, match="read data while its statements were being built"):
            view.arrow(touches)
        view.recording = False
        with pytest.raises(Exception, match="_abmp_scoped_touches"):
            view.arrow(touches)  # the step's table is made only when the steps run
