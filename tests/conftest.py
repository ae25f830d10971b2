"""Shared fixtures: real warehouses (a DuckDB file, a real PostgreSQL server), workspaces, files.

The PostgreSQL server is started once per session, only when a selected test needs it, from the
binaries under /usr/lib/postgresql/*/bin. Without them the postgres tests are skipped with a
reason, except under CI (env `CI` set), where a missing server is a failure.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from abmkit.app import Abm
from abmkit.config.workspace import init_workspace

# Property tests check behaviour, not speed (speed is measured by benchmarks/): no per-example
# deadline, which a busy two-core CI machine would turn into random failures.
hypothesis_settings.register_profile("abmkit", deadline=None)
hypothesis_settings.load_profile("abmkit")


def pytest_configure(config):
    # third-party deprecations (ibis on duckdb 1.5, pandas 3) are not ours to fix here
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:ibis.*")
    config.addinivalue_line("filterwarnings", "ignore:The 'future.infer_string':Warning")


REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ABM_BIN = REPO / ".venv" / "bin" / "abm"

DATA_TABLES = ("accounts", "contacts", "touches", "intent", "opportunities", "campaigns",
               "ip_ranges", "attributes", "quarantine", "account_merges")  # fmt: skip


# -- PostgreSQL ---------------------------------------------------------------------------------
def _pg_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: float(p.parent.parent.name) if
                   p.parent.parent.name.replace(".", "").isdigit() else 0.0)  # fmt: skip
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throw-away PostgreSQL cluster run as the `postgres` user when we are root."""

    def __init__(self, bindir: Path, root: Path):
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.sock = root / "sock"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        self.data.mkdir(parents=True)
        self.sock.mkdir()
        if self.as_root:
            shutil.chown(self.root, "postgres")
            for p in (self.data, self.sock):
                shutil.chown(p, "postgres", "postgres")
            self.root.chmod(0o755)
        init = self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                         "--no-sync", "-E", "UTF8")  # fmt: skip
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr}")
        options = f"-c fsync=off -c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock}"
        started = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60",
                            "-l", str(self.data / "server.log"), "start")  # fmt: skip
        if started.returncode:
            log = (self.data / "server.log").read_text(errors="replace")
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self) -> str:
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no /usr/lib/postgresql/*/bin/pg_ctl")
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    # not under pytest's tmp dir: its parents are private to us, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="abmkit-pg-"))
    server = PostgresServer(bindir, root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.url(postgres_server.create_database())


# -- warehouses and workspaces ------------------------------------------------------------------
@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb://{tmp_path / 'wh' / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def workspace(tmp_path) -> Path:
    ws = tmp_path / "ws"
    init_workspace(ws)
    return ws


@pytest.fixture
def abm(workspace, warehouse_url) -> Iterator[Abm]:
    app = Abm.open(workspace, overrides={"warehouse": {"url": warehouse_url}})
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def duck_abm(workspace) -> Iterator[Abm]:
    """An Abm over the workspace's default DuckDB warehouse (for tests that are not per engine)."""
    app = Abm.open(workspace)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data folder {DATA} is absent (it lives outside the repository)")
    return DATA


# -- files --------------------------------------------------------------------------------------
def write_csv(path: Path, header: list[str] | None, rows: list[list], *, delimiter: str = ",",
              encoding: str = "utf-8") -> Path:  # fmt: skip
    """Write a CSV with the csv module's quoting (embedded delimiters and newlines get quoted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def csv_file(tmp_path):
    """`csv_file(name, header, rows, **kw)` → a CSV written under tmp_path/files."""

    def make(name: str, header: list[str] | None, rows: list[list], **kw) -> Path:
        return write_csv(tmp_path / "files" / name, header, rows, **kw)

    return make


# -- reading the warehouse ----------------------------------------------------------------------
def rows_of(abm: Abm, table: str, key: str | None = None) -> list[dict]:
    """All rows of a table as dicts, sorted, without load bookkeeping (for before/after checks)."""
    data = abm.warehouse.table(table).to_pyarrow().to_pylist()
    data = [{k: v for k, v in r.items() if k not in ("loaded_at", "merged_at")} for r in data]
    return sorted(data, key=lambda r: str(r.get(key)) if key else repr(sorted(r.items(), key=str)))


def by_key(abm: Abm, table: str, key: str) -> dict[str, dict]:
    return {r[key]: r for r in abm.warehouse.table(table).to_pyarrow().to_pylist()}


def snapshot(abm: Abm) -> dict[str, list[dict]]:
    """Every data table's full contents (load_id included: an unchanged row is not rewritten)."""
    return {t: rows_of(abm, t) for t in DATA_TABLES}


def ok(result):
    """The LoadRecord of a load that must have succeeded (fails with the problems otherwise)."""
    from abmkit.errors import InputError

    assert not isinstance(result, InputError), f"load rejected: {result}"
    assert result.outcome == "ok"
    return result


def scored_workspace(root: Path, accounts: int = 400) -> Path:
    """A workspace under `root` with `accounts` plain accounts ingested and scored (with 400:
    20 in Tier 1, 300 in Tier 2, 80 in Tier 3)."""
    from abmkit.config.workspace import init_workspace

    ws = root / "ws"
    init_workspace(ws)
    rows = [[f"A{i:04d}", f"Company {i}", f"company{i}.example", "Technology", 100 + 10 * i,
             "United States"] for i in range(accounts)]  # fmt: skip
    header = ["account_id", "name", "domain", "industry", "employees", "country"]
    with Abm.open(ws) as abm:
        ok(abm.ingest("accounts", [write_csv(root / "accounts.csv", header, rows)])[0])
        abm.score()
    return ws


# -- a real browser ------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium, or a skip (a failure under CI, which installs it)."""
    missing = None if CHROMIUM.exists() else f"{CHROMIUM} is not installed"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed"
    if missing:
        if under_ci():
            pytest.fail(f"{missing}; CI installs it (.ci/run)")
        pytest.skip(missing)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# -- the server over a demo workspace -------------------------------------------------------------
PASSWORD = "correct horse battery staple"
ROLE_EMAILS = {"admin": "admin@example.com", "marketer": "marketer@example.com",
               "sales": "sales@example.com"}  # fmt: skip


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """`abm demo` on a small market (700 accounts, 6 months, 4 replayed weeks), run once per
    test process, with an admin, a marketer and a sales user (who owns the top account's
    owner's accounts). Tests copy it (`demo_ws`) before changing anything."""
    from abmkit.auth import add_user
    from abmkit.demo import run_demo

    ws = tmp_path_factory.mktemp("demo") / "ws"
    run_demo(ws, accounts=700, months=6, seed=3, replay_weeks=4, write_report=False)
    with Abm.open(ws) as abm:
        top = abm.accounts(limit=1).to_pylist()[0]["account_id"]
        owner = abm.account(top).account["owner"]
        for role, email in ROLE_EMAILS.items():
            add_user(abm.app_store, email, PASSWORD, role=role,
                     owner=owner if role == "sales" else None)  # fmt: skip
    return ws


@pytest.fixture
def demo_ws(tmp_path, demo_template) -> Path:
    """A private copy of the demo workspace."""
    target = tmp_path / "ws"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns("market"))
    return target


@dataclass
class Server:
    """The real app over a workspace, driven through Starlette's test client."""

    app: Any
    client: Any
    """Anonymous; it ran the app's startup and runs its shutdown."""

    def signed_in(self, role: str) -> Any:
        """A new client signed in as the demo user of `role`, sending its CSRF token."""
        from fastapi.testclient import TestClient

        client = TestClient(self.app)
        r = client.post("/v1/auth/login", json={"email": ROLE_EMAILS[role], "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client


@pytest.fixture
def server(demo_ws) -> Iterator[Server]:
    from fastapi.testclient import TestClient

    from abmkit.api import create_app

    app = create_app(demo_ws)
    with TestClient(app) as client:
        yield Server(app, client)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` on a real uvicorn on 127.0.0.1 (a thread of this process); its base URL."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def live_server(demo_ws) -> Iterator[str]:
    """The app over the demo workspace served by a real uvicorn on 127.0.0.1; its base URL."""
    from abmkit.api import create_app

    with served(create_app(demo_ws)) as url:
        yield url
