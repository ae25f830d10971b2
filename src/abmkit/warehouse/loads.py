"""The record of every load, and the quarantine of rows a load set aside."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot as sg

from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.schemas import LOADS, QUARANTINE


@dataclass
class LoadRecord:
    """One attempt to load one file: what came in, what changed, how it ended."""

    load_id: str
    table_name: str
    file: str
    checksum: str
    preset: str
    started_at: dt.datetime
    seconds: float = 0.0
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    skipped: int = 0
    unmatched: int = 0
    outcome: str = "ok"
    message: str = ""


def record_load(wh: Warehouse, record: LoadRecord) -> None:
    row = {k: v for k, v in asdict(record).items() if k in LOADS.names}
    wh.con.insert("loads", ibis.memtable([row], schema=LOADS))


def quarantine_rows(wh: Warehouse, table_name: str, file: str, rows: pa.Table) -> None:
    """Replace the quarantined rows of `file` with `rows` (load_id, table_name, file, row,
    column_name, reason, raw): the quarantine shows each file's bad rows once, as of its last
    load, so loading a file twice does not double them."""
    condition = sg.and_(
        sg.column("file").eq(sg.exp.Literal.string(file)),
        sg.column("table_name").eq(sg.exp.Literal.string(table_name)),
    )
    wh.execute_sql(sg.delete("quarantine", where=condition).sql(wh.con.dialect), table="quarantine")
    if rows.num_rows:
        wh.con.insert("quarantine", wh.stage(rows.cast(QUARANTINE.to_pyarrow()), prefix="q"))


def list_quarantine(
    wh: Warehouse, table: str | None = None, load_id: str | None = None
) -> ir.Table:
    q = wh.table("quarantine")
    if table:
        q = q.filter(q.table_name == table)
    if load_id:
        q = q.filter(q.load_id == load_id)
    return q.order_by(["file", "row", "column_name"])


def list_loads(wh: Warehouse, limit: int = 50) -> ir.Table:
    loads = wh.table("loads")
    return loads.order_by(ibis.desc(loads.started_at)).limit(limit)
