"""The warehouse on each engine: canonical tables, transactions, staging, upsert counts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import ibis
import pyarrow as pa
import pytest

from abmkit.config.settings import Settings
from abmkit.errors import EngineError
from abmkit.score.reasons import define_view
from abmkit.warehouse.engine import open_warehouse
from abmkit.warehouse.merge import MergeCounts, apply_upsert, plan_upsert, upsert
from abmkit.warehouse.schemas import CANONICAL, SYSTEM


@pytest.fixture
def wh(warehouse_url):
    w = open_warehouse(warehouse_url)
    try:
        yield w
    finally:
        w.close()


def test_canonical_and_system_tables_exist_with_their_schemas(wh):
    tables = set(wh.con.list_tables())
    for name, spec in CANONICAL.items():
        assert name in tables
        assert wh.table(name).schema().names == spec.schema.names
        for col, typ in spec.schema.items():
            got = wh.table(name).schema()[col]
            assert type(got) is type(typ), f"{name}.{col}: {got} != {typ}"
    for name, schema in SYSTEM.items():
        assert name in tables
        assert wh.table(name).schema().names == schema.names
    assert wh.count("accounts") == 0
    # opening again neither fails nor alters anything
    open_warehouse(wh.url).close()


def test_resolving_tables_carry_match_columns(wh):
    for name, spec in CANONICAL.items():
        has = {"match_method", "match_score"} <= set(wh.table(name).columns)
        assert has == spec.resolves_accounts, name


def _campaign_rows(*ids: str) -> pa.Table:
    return pa.table({"campaign_id": list(ids), "name": [f"Campaign {i}" for i in ids]})


def test_transaction_rolls_back_on_error(wh):
    with pytest.raises(RuntimeError, match="boom"), wh.transaction():
        wh.con.insert("campaigns", ibis.memtable(_campaign_rows("c1", "c2")).select(
            "campaign_id", "name"))  # fmt: skip
        assert wh.count("campaigns") == 2  # visible inside the transaction
        raise RuntimeError("boom")
    assert wh.count("campaigns") == 0
    with wh.transaction():
        wh.con.insert("campaigns", ibis.memtable(_campaign_rows("c3")))
    assert wh.count("campaigns") == 1


def test_nested_transaction_joins_the_outer_one(wh):
    with pytest.raises(ValueError), wh.transaction():
        with wh.transaction():
            wh.con.insert("campaigns", ibis.memtable(_campaign_rows("c1")))
        raise ValueError("outer fails after inner finished")
    assert wh.count("campaigns") == 0


def test_stage_round_trips_an_arrow_table(wh):
    data = pa.table({
        "s": pa.array(["a", None, "c, with comma", 'quote "q"', "new\nline", "é€"]),
        "i": pa.array([1, 2, None, -4, 2**40, 0], pa.int64()),
        "f": pa.array([1.5, None, -0.25, 1e12, 0.0, 3.0], pa.float64()),
        "b": pa.array([True, False, None, True, False, True]),
    })  # fmt: skip
    staged = wh.stage(data, prefix="rt")
    back = staged.order_by(staged.i.isnull(), "i").to_pyarrow()
    expected = sorted(data.to_pylist(), key=lambda r: (r["i"] is None, r["i"] or 0))
    assert back.to_pylist() == expected
    assert staged.schema() == ibis.Schema.from_pyarrow(data.schema)
    batches = pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=2))
    assert wh.stage(batches).count().execute() == 6


def _accounts(rows: list[dict]) -> pa.Table:
    cols = {"account_id": pa.string(), "name": pa.string(), "employees": pa.int64(),
            "revenue": pa.float64()}  # fmt: skip
    return pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in cols.items()})


def test_upsert_counts_with_nulls(wh):
    compare = ["name", "employees", "revenue"]
    first = _accounts([
        {"account_id": "a", "name": "A", "employees": None, "revenue": None},
        {"account_id": "b", "name": "B", "employees": 10, "revenue": 1.0},
        {"account_id": "c", "name": None, "employees": None, "revenue": None},
    ])  # fmt: skip
    counts = upsert(wh, "accounts", wh.stage(first), "account_id", compare)
    assert counts == MergeCounts(inserted=3, updated=0, unchanged=0)

    again = upsert(wh, "accounts", wh.stage(first), "account_id", compare)
    assert again == MergeCounts(inserted=0, updated=0, unchanged=3)  # NULL→NULL is unchanged

    second = _accounts([
        {"account_id": "a", "name": "A", "employees": 5, "revenue": None},  # NULL → value
        {"account_id": "b", "name": "B", "employees": None, "revenue": 1.0},  # value → NULL
        {"account_id": "c", "name": None, "employees": None, "revenue": None},  # same
        {"account_id": "d", "name": "D", "employees": 1, "revenue": 2.0},  # new
    ])  # fmt: skip
    counts = upsert(wh, "accounts", wh.stage(second), "account_id", compare)
    assert counts == MergeCounts(inserted=1, updated=2, unchanged=1)
    rows = {r["account_id"]: r for r in wh.table("accounts").to_pyarrow().to_pylist()}
    assert set(rows) == {"a", "b", "c", "d"}
    assert rows["a"]["employees"] == 5
    assert rows["b"]["employees"] is None
    assert rows["d"]["revenue"] == 2.0


def test_upsert_counts_per_file(wh):
    staged = _accounts([{"account_id": "a", "name": "A"}, {"account_id": "b", "name": "B"}])
    staged = staged.append_column("__file", pa.array([0, 1], pa.int64()))
    plan = plan_upsert(wh, "accounts", wh.stage(staged), "account_id", ["name"], by="__file")
    assert plan.counts == {0: MergeCounts(1, 0, 0), 1: MergeCounts(1, 0, 0)}
    assert wh.count("accounts") == 0  # planning writes nothing
    with wh.transaction():
        apply_upsert(wh, plan)
    assert wh.count("accounts") == 2
    assert "__file" not in wh.table("accounts").columns


def test_upsert_only_writes_the_columns_given(wh):
    full = _accounts([{"account_id": "a", "name": "A", "employees": 7, "revenue": 9.0}])
    upsert(wh, "accounts", wh.stage(full), "account_id", ["name", "employees", "revenue"])
    partial = pa.table({"account_id": ["a"], "name": ["A2"]})
    counts = upsert(wh, "accounts", wh.stage(partial), "account_id", ["name"])
    assert counts == MergeCounts(0, 1, 0)
    (row,) = wh.table("accounts").to_pyarrow().to_pylist()
    assert (row["name"], row["employees"], row["revenue"]) == ("A2", 7, 9.0)


def test_opening_adds_the_columns_a_newer_release_gave_a_table(wh):
    """A workspace made by an earlier release gains new columns when opened, keeping its rows."""
    wh.execute_sql('ALTER TABLE "account_scores" DROP COLUMN "cluster_label"')
    wh.con.insert("account_scores", pa.table({"account_id": ["a1"], "fit": [70]}))
    assert "cluster_label" not in wh.table("account_scores").columns
    again = open_warehouse(wh.url)
    try:
        t = again.table("account_scores")
        assert t.schema()["cluster_label"] == SYSTEM["account_scores"]["cluster_label"]
        assert t.select("account_id", "fit").to_pyarrow().to_pylist() == [
            {"account_id": "a1", "fit": 70}
        ]
    finally:
        again.close()


def test_opening_a_workspace_of_an_earlier_release_keeps_its_reasons(wh):
    """An earlier release kept every reason in the table `score_reasons`, with a key per reason
    (`reason_id`). Opened now, the table is renamed `stored_reasons` (its rows kept, the retired
    key dropped) and `score_reasons` is a view that shows them until the next refresh defines
    it again."""
    wh.execute_sql('DROP VIEW "score_reasons"')
    wh.execute_sql('ALTER TABLE "stored_reasons" RENAME TO "score_reasons"')
    wh.execute_sql('ALTER TABLE "score_reasons" ADD COLUMN "reason_id" VARCHAR')
    wh.execute_sql(
        "INSERT INTO score_reasons (reason_id, account_id, score, factor, points, "
        "reason) VALUES ('a1|fit|industry', 'a1', 'fit', 'industry', 40, 'Software')"
    )
    assert wh._relations()["score_reasons"] == "table"
    again = open_warehouse(wh.url)
    try:
        assert again._relations()["score_reasons"] == "view"
        t = again.con.table("stored_reasons")
        assert t.columns == tuple(SYSTEM["stored_reasons"].names)
        for name in ("stored_reasons", "score_reasons"):
            rows = again.arrow(again.table(name).select("account_id", "reason")).to_pylist()
            assert rows == [{"account_id": "a1", "reason": "Software"}], name
        open_warehouse(wh.url).close()  # opening again changes nothing
        assert again.count("stored_reasons") == 1
    finally:
        again.close()


def test_the_reasons_view_reads_intent_engagement_and_priority_from_the_scores(wh):
    """`score_reasons` shows the written reasons and renders the others from the account's
    stored row with the settings of the refresh that defined it (points to one decimal)."""
    row = {c: None for c in SYSTEM["account_scores"].names} | {
        "account_id": "a1", "fit": 80, "intent": 61.23456, "intent_3p": 50.0, "intent_1p": 22.5,
        "topics_surging": 2, "top_topics": "CRM (72), ERP (65)", "key_page_visits": 1,
        "engagement": 40.04, "engagement_minutes": 51.2, "engaged_contacts": 2,
        "engaged_personas": 1, "anonymous_minutes": 3.0, "priority": 62.0}  # fmt: skip
    wh.insert("account_scores", wh.stage(pa.Table.from_pylist(
        [row], schema=SYSTEM["account_scores"].to_pyarrow())))  # fmt: skip
    wh.execute_sql(
        "INSERT INTO stored_reasons (account_id, score, factor, points, reason) "
        "VALUES ('a1', 'fit', 'industry', 40, 'industry Software is in the ICP')"
    )
    settings = Settings.model_validate({"weights": {"fit": 0.5, "intent": 0.5,
                                                    "engagement": 0.5},
                                        "engagement": {"window_days": 60}})  # fmt: skip
    with wh.transaction():
        define_view(wh, settings)
    got = {(r["score"], r["factor"]): (r["points"], r["reason"])
           for r in wh.arrow(wh.table("score_reasons")).to_pylist()}  # fmt: skip
    assert got == {
        ("fit", "industry"): (40.0, "industry Software is in the ICP"),
        ("intent", "third_party"): (50.0, "2 relevant topics surging: CRM (72), ERP (65)"),
        ("intent", "first_party"): (11.3, "1 key-page visit lately"),  # 22.5 × (1 − 0.5)
        ("engagement", "minutes"): (
            40.0,
            "51 minutes in 60 days from 2 known people (1 persona) and anonymous visits",
        ),
        ("priority", "fit"): (26.7, "fit 80 × 0.333 (weight 0.5 of 1.5)"),
        ("priority", "intent"): (20.4, "intent 61 × 0.333 (weight 0.5 of 1.5)"),
        ("priority", "engagement"): (13.3, "engagement 40 × 0.333 (weight 0.5 of 1.5)"),
    }
    # defined again with other settings, the same stored row reads otherwise
    with wh.transaction():
        define_view(wh, Settings())
    again = {(r["score"], r["factor"]): r["reason"]
             for r in wh.arrow(wh.table("score_reasons")).to_pylist()}  # fmt: skip
    assert again[("engagement", "minutes")].endswith("in 90 days from 2 known people (1 "
                                                     "persona) and anonymous visits")  # fmt: skip
    assert " (weight" not in again[("priority", "fit")]


def test_pipelined_statements_run_in_order_and_a_failure_names_its_sql(wh):
    """Inside `pipelined`, `temp` and `stage` return before their statements run (DuckDB: on a
    thread of their own; elsewhere at once): each one still sees the ones before, a read waits
    for them, and a failed one is raised at the next use of the connection, with its table and
    SQL."""
    rows = pa.table({"n": pa.array([1, 2, 3], pa.int64())})
    with wh.temporary(), wh.pipelined():
        staged = wh.stage(rows, prefix="rows")
        doubled = wh.temp("step", staged.mutate(n=staged.n * 2))
        total = wh.temp("step", doubled.agg(n=doubled.n.sum()))
        assert wh.arrow(total).to_pylist() == [{"n": 12}]
        assert wh.scalar(doubled.n.max()) == 6
    with pytest.raises(EngineError) as failed, wh.temporary(), wh.pipelined():
        source = wh.stage(rows, prefix="rows")
        bad = source.mutate(n=ibis.literal("not a number").cast("int64"))
        wh.temp("after", wh.temp("bad", bad).mutate(m=ibis._.n + 1))
        wh.count("accounts")  # any use of the connection waits, and raises the failure
    assert failed.value.table.startswith("_abm1_bad_") and "not a number" in failed.value.sql
    assert wh._pipe.pool is None and not wh._pipe.queued  # the queue is gone with its block
    assert wh.arrow(wh.table("accounts").select("account_id")).num_rows == 0


def test_a_read_for_later_sees_the_statements_before_it_and_never_hangs(wh):
    """`arrow_later` reads after the statements queued before it, without waiting for them
    (DuckDB: on the pipeline's thread; elsewhere at once), and answers another thread waiting
    for its rows; after a failure before it, that thread gets an error, not a wait forever."""
    rows = pa.table({"n": pa.array([1, 2, 3], pa.int64())})
    with wh.temporary(), wh.pipelined():
        staged = wh.stage(rows, prefix="rows")
        doubled = wh.temp("step", staged.mutate(n=staged.n * 2))
        later = wh.arrow_later(doubled.agg(n=doubled.n.sum()))
        with ThreadPoolExecutor(1) as pool:  # as the lookalike's training thread waits
            assert pool.submit(lambda: later.result(timeout=60)).result().to_pylist() == [
                {"n": 12}]  # fmt: skip
    with pytest.raises(EngineError), wh.temporary(), wh.pipelined():
        source = wh.stage(rows, prefix="rows")
        bad = wh.temp("bad", source.mutate(n=ibis.literal("not a number").cast("int64")))
        later = wh.arrow_later(bad)
        with pytest.raises(EngineError):
            later.result(timeout=60)
        wh.count("accounts")


def test_temporary_tables_are_named_by_order_and_compiled_once(wh):
    """Inside a `temporary` block the names depend only on the order of the calls, so the same
    steps build equal expressions, compiled once; everything made inside is dropped on the way
    out, and a leftover of the same name is replaced, not an error."""
    rows = pa.table({"n": pa.array([1, 2, 3], pa.int64())})

    def one_block() -> tuple[list[str], str]:
        with wh.temporary():
            staged = wh.stage(rows, prefix="rows")
            doubled = wh.temp("step", staged.mutate(n=staged.n * 2))
            total = wh.temp("step", doubled.agg(n=doubled.n.sum()))
            assert wh.arrow(total).to_pylist() == [{"n": 12}]
            names = [t.op().name for t in (staged, doubled, total)]
            return names, wh.compile(doubled.agg(n=doubled.n.sum()))

    compiled = len(wh._compiled)
    first, sql = one_block()
    assert [n.rsplit("_", 1)[-1] for n in first] == ["1", "1", "2"]
    grown = len(wh._compiled)
    assert grown > compiled
    second, again = one_block()
    assert second == first and again == sql
    assert len(wh._compiled) == grown  # the same statements: nothing compiled anew
    for name in first:  # dropped with their block
        with pytest.raises(EngineError):
            wh.execute_sql(f'SELECT * FROM "{name}"')
    # a table left behind under a name the next block hands out is replaced
    with wh.temporary():
        wh.stage(rows, prefix="rows")
        wh.execute_sql(f'CREATE TEMPORARY TABLE "{first[1]}" (x BIGINT)')
        redone = wh.temp("step", wh.table("accounts").select("account_id"))
        assert redone.op().name == first[1] and redone.columns == ("account_id",)
        assert wh.arrow(redone).num_rows == 0


def test_compiled_statements_are_kept_up_to_a_bound(wh, monkeypatch):
    import abmkit.warehouse.engine as engine

    monkeypatch.setattr(engine, "COMPILED_KEPT", 3)
    wh._compiled.clear()
    accounts = wh.table("accounts")
    for n in range(5):
        wh.compile(accounts.filter(accounts.employees > n))
    assert len(wh._compiled) == 3
    kept = wh.compile(accounts.filter(accounts.employees > 4))
    assert "4" in kept and len(wh._compiled) == 3
