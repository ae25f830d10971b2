"""The analytics store: an Ibis connection plus the few things Ibis leaves to each engine.

Everything engine-specific lives in this one module: opening a transaction, and bulk-loading Arrow
data into a temporary table (`COPY` on PostgreSQL, Arrow registration on DuckDB). Analytics code
elsewhere only sees Ibis tables and expressions.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv

from abmkit.errors import EngineError
from abmkit.warehouse.schemas import CANONICAL, RENAMED, RETIRED, SYSTEM, VIEWS
from abmkit.warehouse.statements import StatementFile, Unkept, digest

ArrowData: TypeAlias = pa.Table | pa.RecordBatchReader
COMPILED_KEPT = 512
"""How many compiled statements a connection keeps for reuse (least recently used go first)."""


class Warehouse:
    """A connection to the analytics store with the canonical tables in place."""

    def __init__(self, url: str, memory_limit: str = "3GB"):
        self.url = url
        self.memory_limit = memory_limit
        try:
            if url.startswith("duckdb://"):
                Path(url.removeprefix("duckdb://")).parent.mkdir(parents=True, exist_ok=True)
            self.con = ibis.connect(url)
        except Exception as exc:  # the driver's own message says what is wrong
            hint = ""
            if "Could not set lock" in str(exc):  # DuckDB: one process writes a file at a time
                hint = (
                    "\nAnother process has the embedded warehouse open (`abm serve` "
                    "keeps it open while it runs): stop it, or use its web UI or API."
                )
            raise EngineError(f"cannot open warehouse {url!r}: {exc}{hint}") from exc
        self.engine = self.con.name
        self._in_transaction = False
        self._temps: list[str] = []  # temporary tables made by `temp` and `stage`, in order
        self._held: set[str] = set()  # those of them held as Arrow (`fill` in `pipelined`)
        self._depth = 0  # how many `temporary` blocks are open
        self._serial: Counter[str] = Counter()  # temporary names handed out in the open block
        self._compiled: OrderedDict[ops.Node, str] = OrderedDict()
        self._schemas: dict[str, ir.Table] = {}  # canonical and system tables, as Ibis sees them
        self._columns: dict[ibis.Schema, str] = {}  # column definitions of temporary tables
        self.prepared: dict[tuple, object] = {}  # a refresh built once per connection, to rerun
        self._pipe = _Pipeline()  # statements queued by `pipelined` (shared with scoped views)
        self._keep = _Keeping()  # statements kept in a file (`keeping_statements`; shared too)
        if self.engine == "duckdb":
            self.con.con.execute(f"SET memory_limit='{memory_limit}'")

    # -- tables ---------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        """Create any missing canonical and system table, and add the columns a newer release
        gave a table (never changes an existing column, and drops only the retired columns of
        derived tables: `RETIRED`); rename the tables of `RENAMED`, and make the views of
        `VIEWS` that do not exist yet."""
        self.sync()
        relations = self._relations()
        for old, new in RENAMED.items():
            if relations.get(old) == "table" and new not in relations:
                self.execute_sql(f'ALTER TABLE "{old}" RENAME TO "{new}"', table=old)
                relations[new] = relations.pop(old)
        existing = {name for name, kind in relations.items() if kind == "table"}
        wanted = {name: spec.schema for name, spec in CANONICAL.items()} | SYSTEM
        types = self.con.compiler.type_mapper
        for name, schema in wanted.items():
            if name not in existing:
                self.con.create_table(name, schema=schema)
                continue
            have = set(self.con.table(name).columns)
            for column, dtype in schema.items():
                if column not in have:
                    self.execute_sql(f'ALTER TABLE "{name}" ADD COLUMN "{column}" '
                                     f"{types.to_string(dtype)}", table=name)  # fmt: skip
            for column in RETIRED.get(name, []):
                if column in have:
                    self.execute_sql(f'ALTER TABLE "{name}" DROP COLUMN "{column}"', table=name)
        for view, shown in VIEWS.items():
            if view not in relations:
                self.execute_sql(f'CREATE VIEW "{view}" AS SELECT * FROM "{shown}"', table=view)
        self._schemas.clear()

    def _relations(self) -> dict[str, str]:
        """The tables ("table") and views ("view") of the warehouse's own schema."""
        sql = (
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_catalog = current_database()"
        )
        if self.engine == "duckdb":
            rows = self.con.con.execute(sql).fetchall()
        else:
            with contextlib.closing(self.con.raw_sql(sql)) as cursor:
                rows = cursor.fetchall()
        return {name: "view" if kind == "VIEW" else "table" for name, kind in rows}

    def define_view(self, name: str, rows: ir.Table) -> None:
        """(Re)define the view `name` of `VIEWS` as `rows` (same columns, same types)."""
        self.execute_sql(f'CREATE OR REPLACE VIEW "{name}" AS {self.compile(rows)}', table=name)

    def table(self, name: str) -> ir.Table:
        """A table; the canonical and system ones are looked up once per connection (their
        columns only change in `ensure_tables`)."""
        if name not in CANONICAL and name not in SYSTEM:
            self.sync()
            return self.con.table(name)
        if name not in self._schemas:
            self.sync()
            self._schemas[name] = self.con.table(name)
        return self._schemas[name]

    def compile(self, t: ir.Expr) -> str:
        """The SQL of `t`, compiled once per connection for equal expressions: a refresh that
        builds the same statements again (same settings, same tables) skips the compiler."""
        op = t.op()
        sql = self._compiled.get(op)
        if sql is None:
            sql = self._compiled[op] = self._compile_new(t)
            if len(self._compiled) > COMPILED_KEPT:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(op)
        return sql

    def _compile_new(self, t: ir.Expr) -> str:
        """Compile `t`, or read its SQL from the statements kept by an earlier process."""
        kept = self._keep.file if self._keep.active else None
        if kept is None:
            return self.con.compile(t)
        try:
            key = digest(t.op())
        except Unkept:
            return self.con.compile(t)
        sql = kept.get(key)
        if sql is None:
            sql = self.con.compile(t)
            kept.put(key, sql)
        return sql

    def keep_statements_in(self, path: Path) -> None:
        """Where `keeping_statements` keeps compiled statements (a file of the workspace)."""
        self._keep.file = StatementFile(path, self.engine)

    @contextlib.contextmanager
    def keeping_statements(self) -> Iterator[None]:
        """Inside (given a file by `keep_statements_in`), statements compiled afresh are also
        kept in that file, and read from it by the next process that compiles the same
        expression (`abmkit.warehouse.statements`): for work whose statements are the same from
        one run to the next, such as a refresh's. A statement that holds a moment is not kept:
        its text changes with the moment."""
        before = self._keep.active
        self._keep.active = self._keep.file is not None
        try:
            yield
            if self._keep.file is not None:
                self._keep.file.save()
        finally:
            self._keep.active = before

    def arrow(self, t: ir.Table) -> pa.Table:
        """The rows of `t`, through the compiled-statement cache."""
        self.sync()
        if self.engine != "duckdb":
            return t.to_pyarrow()
        return self._fetch_arrow(self.compile(t)).cast(t.schema().to_pyarrow())

    def arrow_later(self, t: ir.Table) -> Future[pa.Table]:
        """The rows of `t` as `arrow` reads them, after the statements queued so far: inside
        `pipelined` the read is queued and this returns at once (another thread can wait for
        the rows while this one builds the next statements); elsewhere it reads them now."""
        rows: Future[pa.Table] = Future()
        if self._pipe.pool is None:
            rows.set_result(self.arrow(t))
            return rows
        sql, schema = self.compile(t), t.schema().to_pyarrow()

        def run() -> None:
            try:
                rows.set_result(self._fetched(sql).cast(schema))
            except BaseException as exc:
                rows.set_exception(exc)
                raise

        self._pipe.queue(run, skipped=lambda: rows.set_exception(
            EngineError("not read: an earlier statement failed", sql=sql)))  # fmt: skip
        return rows

    def _fetched(self, sql: str, table: str | None = None) -> pa.Table:
        """`_fetch_arrow` for a queued step: a failure is re-raised naming the SQL (and the
        working table it was to fill)."""
        try:
            return self._fetch_arrow(sql)
        except Exception as exc:
            raise EngineError(str(exc).splitlines()[0], table=table, sql=sql) from exc

    def _fetch_arrow(self, sql: str) -> pa.Table:
        """The rows of a DuckDB statement, as Arrow."""
        with self._over_held(sql):
            result = self.con.con.execute(sql)
            fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
            return fetch()  # duckdb<1.5 has only fetch_arrow_table

    def scalar(self, t: ir.Scalar) -> Any:
        """The value of a one-value expression (a count, a maximum), as `arrow` does."""
        self.sync()
        if self.engine != "duckdb":
            return t.execute()
        sql = self.compile(t)
        with self._over_held(sql):
            row = self.con.con.execute(sql).fetchone()
        return row[0] if row else None

    def temp(self, prefix: str, t: ir.Table, *, native: bool = False) -> ir.Table:
        """`t` computed once into a new temporary table, compiled once and run as one
        statement (cheaper than Ibis's general path: it adds up when a step is small). The
        table is made from the expression's schema first, so the engine does not guess the
        types (DuckDB reads a bare 0.4 as a DECIMAL). Inside a `temporary` block the name
        depends only on the order of the calls, so the same steps give the same statements.
        `native`: see `fill`."""
        return self.fill(self._temp_name(prefix), t.schema(), t, native=native)

    def _temp_name(self, prefix: str) -> str:
        if not self._depth:  # outside any block: a name of its own
            return f"_{prefix}_{uuid.uuid4().hex[:10]}"
        self._serial[prefix] += 1
        return f"_abm{self._depth}_{prefix}_{self._serial[prefix]}"

    def _create_temp(self, name: str, schema: ibis.Schema) -> None:
        for sql in self._creating(name, schema):
            self.execute_sql(sql, table=name)
        self._temps.append(name)

    def _creating(self, name: str, schema: ibis.Schema) -> list[str]:
        """The statements that (re)create the temporary table `name`."""
        columns = self._columns.get(schema)
        if columns is None:  # written once per schema: generating it costs more than running it
            dialect = self.con.dialect
            columns = ", ".join(c.sql(dialect) for c in schema.to_sqlglot_column_defs(dialect))
            self._columns[schema] = columns
        # a leftover of the same name (a block whose clean-up failed) is replaced
        if self.engine == "duckdb":
            return [f'CREATE OR REPLACE TEMPORARY TABLE "{name}" ({columns})']
        return [f'DROP TABLE IF EXISTS "{name}"', f'CREATE TEMPORARY TABLE "{name}" ({columns})']

    def _bound(self, name: str, schema: ibis.Schema) -> ir.Table:
        """The Ibis table of a temporary table whose schema is known (no round trip)."""
        return ops.DatabaseTable(name, schema=schema, source=self.con,
                                 namespace=ops.Namespace()).to_expr()  # fmt: skip

    def count(self, name: str) -> int:
        return int(self.scalar(self.table(name).count()))

    # -- transactions ---------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: statements inside either all commit or none do."""
        self.sync()
        if self._in_transaction:
            yield
            return
        self._in_transaction = True
        try:
            if self.engine == "postgres":
                with self.con.con.transaction():
                    yield
            else:
                self.con.con.begin()
                try:
                    yield
                    self.sync()
                except BaseException:
                    self._pipe.settle()
                    self.con.con.rollback()
                    raise
                self.con.con.commit()
        finally:
            self._in_transaction = False

    @contextlib.contextmanager
    def temporary(self) -> Iterator[None]:
        """Drop, on the way out, the temporary tables `temp` and `stage` made inside: a
        long-running process (a server, `watch`) must not keep every refresh's copies."""
        mark, serial = len(self._temps), self._serial
        self._depth += 1
        self._serial = Counter()
        try:
            yield
            self.sync()  # queued statements may still read the tables
        except BaseException:
            self._pipe.settle()
            raise
        finally:
            for name in reversed(self._temps[mark:]):
                with contextlib.suppress(Exception):  # already gone with its connection
                    if name in self._held:
                        self._held.discard(name)
                        self.con.con.unregister(name)
                    else:
                        self.execute_sql(f'DROP TABLE IF EXISTS "{name}"', table=name)
            del self._temps[mark:]
            self._depth -= 1
            self._serial = serial

    # -- bulk loads -----------------------------------------------------------------------
    def stage(self, data: ArrowData | ir.Table, *, prefix: str = "stage") -> ir.Table:
        """Load rows into a new temporary table and return it as an Ibis table.

        `data` is Arrow, or an Ibis table from the scratch engine: when that engine is this very
        connection (a DuckDB warehouse) the table is returned as it is, so it should be cheap to
        read more than once.
        """
        if isinstance(data, pa.Table) and self._pipe.pool is not None:  # queued (`pipelined`)
            return self.fill(self._temp_name(prefix), ibis.Schema.from_pyarrow(data.schema), data)
        self.sync()
        if isinstance(data, ir.Table):
            if data._find_backend() is self.con:
                return data  # already in this engine: used where it is, no copy
            data = data.to_pyarrow_batches(chunk_size=250_000)
        name = self._temp_name(prefix)
        if self.engine == "postgres":
            self._create_temp(name, ibis.Schema.from_pyarrow(data.schema))  # records the name
            self._copy_into(name, data)
            return self.con.table(name)
        self._temps.append(name)
        if self.engine == "duckdb":
            view = f"{name}_arrow"
            self.con.con.register(view, data)
            try:
                self.con.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS '
                                     f'SELECT * FROM "{view}"')  # fmt: skip
            finally:
                self.con.con.unregister(view)
        else:  # other engines: Ibis's own path, correct if not the fastest
            table = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
            self.con.create_table(name, obj=table, temp=True)
        return self.con.table(name)

    def insert(self, table: str, rows: ir.Table) -> None:
        """Append `rows` (an expression of this engine) to `table`, by column name."""
        names = ", ".join(f'"{c}"' for c in rows.columns)
        self.execute_sql(f'INSERT INTO "{table}" ({names}) {self.compile(rows)}', table=table)

    def derived(self, prefix: str, schema: ibis.Schema,
                produce: Callable[[], pa.Table]) -> ir.Table:  # fmt: skip
        """Rows made in Python (a rule applied per distinct value, a model's predictions) with
        the columns of `schema`, loaded into a temporary table. A prepared refresh keeps
        `produce` and calls it again on each run (`abmkit.score.incremental`)."""
        return self.stage(produce().select(schema.names), prefix=prefix)

    def fill(self, name: str, schema: ibis.Schema, rows: ir.Table | pa.Table, *,
             native: bool = False) -> ir.Table:  # fmt: skip
        """(Re)create the temporary table `name` and fill it with `rows` (an expression of this
        engine, compiled through the cache, or Arrow rows). Inside `pipelined` the statements are
        queued and the table is returned at once.

        Inside `pipelined`, unless `native`, the rows are held in memory as Arrow and the engine
        reads them from there under `name` (`_hold`): DuckDB computes a refresh's steps of one
        row per account several times faster than it writes them into a table of its own,
        which it does on one core. `native` keeps them in a temporary table of the engine's
        own: for many rows to be copied into a table of the warehouse (DuckDB copies from its
        own storage faster than from Arrow), or a few rows that decide how a big table is
        joined (the planner knows a table's size, not an Arrow view's)."""
        holding = self._pipe.pool is not None and self._pipe.hold
        if holding and not native and isinstance(rows, ir.Table | pa.Table):
            return self._hold(name, schema, rows)
        if self._pipe.pool is not None and isinstance(rows, ir.Table | pa.Table):
            creating = self._creating(name, schema)
            sql = self.compile(rows) if isinstance(rows, ir.Table) else None
            self._temps.append(name)

            def run() -> None:
                for statement in creating:
                    self._execute(statement, name)
                if sql is not None:
                    self._execute(f'INSERT INTO "{name}" {sql}', name)
                else:
                    self._insert_arrow(name, schema, rows)

            self._pipe.queue(run)
            return self._bound(name, schema)
        self._create_temp(name, schema)
        if isinstance(rows, ir.Table):
            self.execute_sql(f'INSERT INTO "{name}" {self.compile(rows)}', table=name)
        elif self.engine == "duckdb":
            self._insert_arrow(name, schema, rows)
        else:
            self._copy_into(name, rows.select(schema.names))
        return self._bound(name, schema)

    def _hold(self, name: str, schema: ibis.Schema, rows: ir.Table | pa.Table) -> ir.Table:
        """Queue `rows` to be computed into Arrow (or taken as they are) and registered with the
        DuckDB connection as `name`, typed as `schema`; `temporary` unregisters it."""
        sql = self.compile(rows) if isinstance(rows, ir.Table) else None
        target = schema.to_pyarrow()
        self._temps.append(name)
        self._held.add(name)

        def run() -> None:
            table = rows.select(schema.names) if sql is None else self._fetched(sql, name)
            if table.schema != target:  # the schema's types, as a temporary table would have
                table = table.cast(target)
            self.con.con.register(name, table)

        self._pipe.queue(run)
        return self._bound(name, schema)

    @contextlib.contextmanager
    def _over_held(self, sql: str) -> Iterator[None]:
        """Run a statement that reads held rows (`_hold`) without join filter pushdown: DuckDB
        1.5 pushes a join's Bloom filter into the scan of its smaller side, and fails when that
        side is Arrow ("Pushdown Filter Type BLOOM_FILTER is not currently supported in PyArrow
        Scans", duckdb/duckdb-python#463)."""
        held = frozenset(self._held)  # (one step under the GIL: the main thread may add to it)
        if not held or not any(f'"{name}"' in sql for name in held):
            yield
            return
        self.con.con.execute("SET disabled_optimizers = 'join_filter_pushdown'")
        try:
            yield
        finally:
            self.con.con.execute("RESET disabled_optimizers")

    def _insert_arrow(self, name: str, schema: ibis.Schema, rows: pa.Table) -> None:
        """Append Arrow rows to the DuckDB table `name`, by the column names of `schema`."""
        view, names = f"{name}_arrow", ", ".join(f'"{c}"' for c in schema.names)
        self.con.con.register(view, rows)
        try:
            self.con.con.execute(f'INSERT INTO "{name}" ({names}) SELECT {names} FROM "{view}"')
        finally:
            self.con.con.unregister(view)

    def _copy_into(self, name: str, data: ArrowData) -> None:
        """PostgreSQL `COPY ... FROM STDIN` in CSV, streamed batch by batch."""
        cols = ", ".join(f'"{c}"' for c in data.schema.names)
        sql = f'COPY "{name}" ({cols}) FROM STDIN WITH (FORMAT csv)'
        batches = data if isinstance(data, pa.RecordBatchReader) else data.to_batches(100_000)
        options = pacsv.WriteOptions(include_header=False)
        with self.con.con.cursor() as cur, cur.copy(sql) as copy:
            for batch in batches:
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), buf, options)
                copy.write(buf.getvalue())

    @contextlib.contextmanager
    def scratch(self) -> Iterator[ibis.BaseBackend]:
        """A DuckDB to read and check files in before rows reach the warehouse: the warehouse's
        own connection when it is DuckDB (no copy between engines), else a private in-memory one.
        Its temporary tables are dropped afterwards."""
        self.sync()
        if self.engine == "duckdb":
            prepare_engine(self.con.con)
            before = set(self._temp_tables())
            try:
                yield self.con
            finally:
                for name in set(self._temp_tables()) - before:
                    self.con.con.execute(f'DROP TABLE IF EXISTS temp."{name}"')
        else:
            engine = local_engine(self.memory_limit)
            try:
                yield engine
            finally:
                engine.disconnect()

    def _temp_tables(self) -> list[str]:
        self.sync()
        rows = self.con.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary")
        return [r[0] for r in rows.fetchall()]

    def drop(self, name: str) -> None:
        self.sync()
        self.con.drop_table(name, force=True)
        self._schemas.pop(name, None)

    def execute_sql(self, sql: str, *, table: str | None = None) -> None:
        """Run one statement; a failure is re-raised with the table and the SQL."""
        self.sync()
        self._execute(sql, table)

    def _execute(self, sql: str, table: str | None) -> None:
        try:
            with self._over_held(sql):
                cursor = self.con.raw_sql(sql)
        except Exception as exc:
            raise EngineError(str(exc).splitlines()[0], table=table, sql=sql) from exc
        if cursor is not None and cursor is not self.con.con:  # DuckDB returns the connection
            with contextlib.suppress(Exception):
                cursor.close()

    def close(self) -> None:
        self._pipe.settle()
        self.con.disconnect()

    # -- pipelining -------------------------------------------------------------------------
    @contextlib.contextmanager
    def pipelined(self) -> Iterator[None]:
        """Inside, `temp` and `fill` of an expression queue their statements for one thread of
        their own and return at once, so that Python builds and compiles the next statement
        while the engine runs this one (most of a refresh's statements are over one row per
        account: the engine gives each one core, and building them costs as much again). Any
        other use of the connection waits for the queue first (`sync`), and a failed statement
        is raised there, with its table and SQL. DuckDB only: elsewhere it changes nothing."""
        pipe = self._pipe
        if self.engine != "duckdb" or pipe.pool is not None:
            yield
            return
        pipe.start()
        try:
            yield
            self.sync()
        finally:
            pipe.stop()

    def sync(self) -> None:
        """Wait until every queued statement has run; raise the first failure."""
        self._pipe.wait()

    def hold_rows(self, hold: bool) -> None:
        """Inside `pipelined`: whether `fill` holds rows as Arrow (the default) or keeps every
        working table in the engine's own tables (a refresh of a few accounts, whose steps join
        the warehouse's big tables by how few rows they hold)."""
        self._pipe.hold = hold

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Keeping:
    """Whether, and in which file, compiled statements are kept (`keeping_statements`)."""

    def __init__(self) -> None:  # noqa: D107
        self.file: StatementFile | None = None
        self.active = False


class _Pipeline:
    """Statements run in order by one thread (`Warehouse.pipelined`): after a failure the rest
    of the queue is skipped, and the failure is raised to the next caller of `wait`."""

    def __init__(self) -> None:  # noqa: D107
        self.pool: ThreadPoolExecutor | None = None
        self.queued: list[Future] = []
        self.failed = False
        self.hold = True  # `Warehouse.hold_rows`

    def start(self) -> None:
        self.pool, self.failed = ThreadPoolExecutor(1, thread_name_prefix="abm-sql"), False
        self.hold = True

    def queue(self, run: Callable[[], object],
              skipped: Callable[[], object] | None = None) -> None:  # fmt: skip
        """Queue `run`; after a failure it is skipped (and `skipped` called instead)."""

        def job() -> None:
            if self.failed:
                if skipped is not None:
                    skipped()
                return
            try:
                run()
            except BaseException:
                self.failed = True
                raise

        assert self.pool is not None
        self.queued.append(self.pool.submit(job))

    def wait(self) -> None:
        queued, self.queued = self.queued, []
        for done in queued:
            done.result()

    def settle(self) -> None:
        """Wait for the queue without raising (the caller is already failing or closing)."""
        with contextlib.suppress(BaseException):
            self.wait()
        self.queued = []

    def stop(self) -> None:
        self.settle()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.pool = None


def local_engine(memory_limit: str = "3GB") -> ibis.BaseBackend:
    """An in-memory DuckDB used to read and check files before they reach the warehouse."""
    spill = tempfile.mkdtemp(prefix="abmkit-spill-")  # past the limit, DuckDB spills here
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": spill})
    prepare_engine(con)
    return ibis.duckdb.from_connection(con)


def prepare_engine(con: duckdb.DuckDBPyConnection) -> None:
    """Settings the readers rely on: file order kept, times without an offset read as UTC."""
    con.execute("SET preserve_insertion_order=true")
    con.execute("SET TimeZone='UTC'")


def open_warehouse(url: str, memory_limit: str = "3GB") -> Warehouse:
    """Connect and make sure every canonical table exists."""
    wh = Warehouse(url, memory_limit)
    wh.ensure_tables()
    return wh


class Reuse:
    """Expressions built once and handed out again by name (`site`): a caller that builds the
    same statements over tables named the same way (`temp` inside a `temporary` block) keeps
    them in `store` and skips building them again. Without a store, everything is built afresh."""

    def __init__(self, store: dict | None = None):  # noqa: D107
        self._store = store

    def __call__(self, site: str, build: Callable[[], Any]) -> Any:
        if self._store is None:
            return build()
        if site not in self._store:
            self._store[site] = build()
        return self._store[site]
