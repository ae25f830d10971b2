"""The real-time path of `abm serve` under load: personalization latency at a sustained rate,
beacon event → queued action latency, and beacon throughput with zero loss.

Run from the repository root: ``.venv/bin/python benchmarks/bench_server.py [--quick]``.

The market of ``bench_ingest`` (same cache, same seed: 100k accounts × 10M touches, or 10k × 1M
with ``--quick``) is loaded into the scored-ready workspace of ``bench_score`` and scored once,
untimed, into ``<data-dir>/<size>_seed7/workspace-server`` (its settings rewritten on every run,
re-scored when the scoring settings changed). Each run works on a fresh copy of it. The server is
a real ``abm serve`` process (uvicorn) on 127.0.0.1; this script, a second process, is the load:

* **personalization** — ``GET /v1/personalize`` at a sustained rate (200 requests/s; open loop:
  each request leaves at its scheduled time whether or not the earlier ones were answered, and
  its latency runs from that time, so a stall counts for every request it delays), after 500
  untimed requests one at a time (a fresh process pays first-time costs on its first requests:
  without them, its first second at 200/s builds a backlog that takes seconds to drain). Visitors
  are drawn at random: 80% by the domain of one of the accounts, 20% unknown. Target: p99 ≤ 25 ms.
* **event → action** — one key-page visit (``/pricing``) at a time, each of another target
  account (Tiers 1–2, not held out, in a buying stage past Awareness): the time from sending
  ``POST /v1/events`` until the agent's first action for that account is in the application
  store (polled every 5 ms). Target: p99 ≤ 1 s. Visits that trigger no play are counted apart.
* **beacon sustained** — page views at a fixed rate (one event per request, as the snippet
  sends them) for a while; every accepted event (202) must become exactly one touch: the
  touches are counted by their IDs in the warehouse once the server has stopped. Reported: the
  accept latency, the rate the worker kept up with (accepted ÷ time until the queue was
  empty), and lost or doubled events (target: none).

The site key's rate limits are raised for the run (the load comes from one address). Writes
``benchmarks/results/server.json`` and prints a table; exits non-zero on a crash or a lost
event.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_ingest import DEFAULT_DATA, label, machine, market_dir, run_child
from bench_score import scored_ready

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "server.json"
ABM = ROOT / ".venv" / "bin" / "abm"
SITE, ORIGIN = "bench_site_key", "https://www.seller.example"
WORKSPACE = "workspace-server"
PLANS = {
    "full": {"size": "100kx10M", "personalize_rate": 200, "personalize_s": 60,
             "visits": 60, "beacon_rate": 200, "beacon_s": 30},
    "quick": {"size": "10kx1M", "personalize_rate": 200, "personalize_s": 15,
              "visits": 15, "beacon_rate": 100, "beacon_s": 10},
}  # fmt: skip
PERSONALIZE_P99_MS, ACTION_P99_S = 25.0, 1.0
WARM_UP = 500
"""Personalization requests sent one after another, untimed, before the timed phase."""
PAGES = ["/", "/blog/data-governance", "/product", "/docs/setup", "/customers", "/careers"]


# --- the workspace ---------------------------------------------------------------------------
def bench_settings() -> dict:
    from abmkit.demo import DEMO_MAPPINGS, DEMO_SCORING

    site = {"key": SITE, "name": "benchmark", "origins": [ORIGIN]}
    limits = {"public_rate_limit": "10000000/minute", "site_rate_limit": "10000000/minute"}
    return {"ingest": {"mappings": DEMO_MAPPINGS}} | DEMO_SCORING | {
        "server": {"sites": [site], **limits}}  # fmt: skip


def prepare_child(source: Path, workspace: Path) -> dict:
    """Runs in a fresh process: the scored workspace the runs copy (settings written afresh,
    scored when its scores are missing or were made with other scoring settings)."""
    from abmkit.app import Abm
    from abmkit.config.render import render_config
    from abmkit.config.settings import Settings
    from abmkit.score.incremental import last_run, settings_fingerprint

    if not (workspace / "warehouse.duckdb").exists():
        shutil.rmtree(workspace, ignore_errors=True)
        shutil.copytree(source, workspace)
    settings = Settings.model_validate(bench_settings())
    (workspace / "abmkit.yaml").write_text(render_config(settings), encoding="utf-8")
    clock = time.perf_counter()
    with Abm.open(workspace) as abm:
        run = last_run(abm.warehouse)
        scored = run is not None and run["settings_hash"] == settings_fingerprint(abm.settings)
        if not scored:
            abm.score()
        accounts = abm.warehouse.count("accounts")
    return {"scored_now": not scored, "seconds": round(time.perf_counter() - clock, 1),
            "accounts": accounts}  # fmt: skip


def base_workspace(market: Path) -> Path:
    workspace = market / WORKSPACE
    out = run_child([__file__, "--child", "prepare", "--source", str(scored_ready(market)),
                     "--workspace", str(workspace)])  # fmt: skip
    if out["scored_now"]:
        print(f"[prepare] scored {out['accounts']:,} accounts in {out['seconds']}s", flush=True)
    return workspace


def targets_of(workspace: Path, n: int) -> tuple[list[str], list[dict]]:
    """Every account's domain (the personalization visitors), and `n` target accounts whose
    visit should start a play: Tiers 1–2, treated (not held out), in a stage past Awareness."""
    import duckdb

    from abmkit.measure.holdout import TREATED, group_of, tier_scope

    con = duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True)
    try:
        domains = [r[0] for r in con.execute(
            "SELECT domain FROM accounts WHERE domain IS NOT NULL").fetchall()]  # fmt: skip
        rows = con.execute(
            "SELECT s.account_id, a.domain, s.tier FROM account_scores s JOIN accounts a "
            "USING (account_id) WHERE s.tier IN (1, 2) AND a.domain IS NOT NULL AND "
            "s.buying_stage IN ('Consideration', 'Decision', 'Purchase') "
            "ORDER BY s.tier, s.priority DESC").fetchall()  # fmt: skip
    finally:
        con.close()
    treated = [{"account_id": a, "domain": d, "tier": t} for a, d, t in rows
               if group_of("abmkit", tier_scope(t), a, 0.1) == TREATED]  # fmt: skip
    return domains, treated[:n]


# --- the server ------------------------------------------------------------------------------
class Server:
    """`abm serve` on a free port of 127.0.0.1, its output in a log file."""

    def __init__(self, workspace: Path, log: Path):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ABM")}
        self.log = log.open("w")
        cmd = [str(ABM), "serve", "--workspace", str(workspace), "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 300.0) -> float:
        import httpx

        clock = time.perf_counter()
        while time.perf_counter() - clock < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"abm serve exited with {self.proc.returncode}")
            try:
                r = httpx.get(f"{self.base}/v1/personalize?site={SITE}", timeout=2)
                if r.status_code == 200:
                    return time.perf_counter() - clock
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("abm serve did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def queued(store: Path) -> int:
    with sqlite3.connect(store, timeout=30) as con:
        return con.execute("SELECT count(*) FROM beacon_events "
                           "WHERE processed_at IS NULL").fetchone()[0]  # fmt: skip


def wait_drained(store: Path, timeout: float = 600.0) -> float:
    clock = time.perf_counter()
    while queued(store):
        if time.perf_counter() - clock > timeout:
            raise SystemExit("the beacon queue did not drain")
        time.sleep(0.02)
    return time.perf_counter() - clock


# --- load ------------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99),
            "max": ordered[-1], "mean": statistics.fmean(ordered)}  # fmt: skip


CONNECTIONS = 64
"""Keep-alive connections of the load generator; a request waits for a free one (its latency
still runs from its scheduled time)."""


class Connection:
    """One keep-alive HTTP/1.1 connection: the least a load generator needs (httpx's async pool
    costs the generator more CPU per request than the server spends answering it, and would be
    what is measured)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        for attempt in (1, 2):
            try:
                return await self._exchange(method, path, body, headers or {})
            except (ConnectionError, asyncio.IncompleteReadError):
                self.writer = None  # the server closed it: open another
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, body: bytes,
                        headers: dict[str, str]) -> tuple[int, bytes]:  # fmt: skip
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Client:
    """`CONNECTIONS` keep-alive connections to the server, lent one request at a time."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(CONNECTIONS):
            self.idle.put_nowait(Connection(host, int(port)))

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        connection = await self.idle.get()
        try:
            return await connection.request(method, path, body, headers)
        finally:
            self.idle.put_nowait(connection)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()


async def open_loop(rate: float, seconds: float, send) -> tuple[list, float]:
    """Call `send(i, scheduled)` at `rate` per second for `seconds`, each on its schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for i in range(int(rate * seconds)):
        at = start + i / rate
        if at > loop.time():
            await asyncio.sleep(at - loop.time())
        tasks.append(asyncio.create_task(send(i, at)))
    results = await asyncio.gather(*tasks)
    return results, loop.time() - start


async def personalize_phase(base: str, domains: list[str], rate: int, seconds: int) -> dict:
    rng = random.Random(7)
    client = Client(base)
    for domain in domains[:WARM_UP]:  # the connections, and the server's first-time paths
        await client.request("GET", f"/v1/personalize?site={SITE}&domain={domain}")

    async def send(i: int, scheduled: float) -> tuple[float, int, bool]:
        domain = rng.choice(domains) if rng.random() < 0.8 else f"visitor{i}.example.org"
        status, body = await client.request("GET", f"/v1/personalize?site={SITE}&domain="
                                            f"{domain}", headers={"Origin": ORIGIN})  # fmt: skip
        late = asyncio.get_running_loop().time() - scheduled
        return late * 1000, status, status == 200 and json.loads(body)["known"]

    results, elapsed = await open_loop(rate, seconds, send)
    client.close()
    ok = [ms for ms, status, _ in results if status == 200]
    return {"rate": rate, "seconds": seconds, "requests": len(results),
            "achieved_rate": round(len(results) / elapsed, 1),
            "errors": sum(1 for _, s, _ in results if s != 200),
            "known_share": round(sum(k for *_, k in results) / max(len(results), 1), 3),
            "latency_ms": percentiles(ok)}  # fmt: skip


def action_latency_phase(base: str, store: Path, targets: list[dict]) -> dict:
    """One visit at a time; the time until the account's first new action exists."""
    import httpx

    found: list[float | str] = []
    silent: list[str] = []
    with httpx.Client(base_url=base, timeout=10) as client, sqlite3.connect(store) as con:
        for t in targets:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 1))
            event = {"id": uuid.uuid4().hex, "url": "https://www.seller.example/pricing",
                     "domain": t["domain"]}  # fmt: skip
            clock = time.perf_counter()
            r = client.post("/v1/events", params={"site": SITE}, json={"events": [event]})
            if r.status_code != 202:
                raise SystemExit(f"an event was refused: {r.status_code} {r.text}")
            seconds = _first_action(con, t["account_id"], since, clock)
            if seconds is None:
                silent.append(t["account_id"])
            else:
                found.append(seconds)
            wait_drained(store)
            time.sleep(0.3)
    timed = [x for x in found if isinstance(x, float)]
    return {"visits": len(targets), "with_action": len(timed), "without_action": len(silent),
            "first_s": timed[0] if timed else None, "latency_s": percentiles(timed),
            "samples_s": [round(x, 4) for x in timed],
            "statuses": _statuses(store)}  # fmt: skip


def _first_action(con: sqlite3.Connection, account: str, since: str,
                  clock: float, timeout: float = 10.0) -> float | None:  # fmt: skip
    query = "SELECT 1 FROM actions WHERE account_id = ? AND created_at >= ? LIMIT 1"
    while time.perf_counter() - clock < timeout:
        if con.execute(query, (account, since)).fetchone():
            return time.perf_counter() - clock
        if not queued_in(con) and time.perf_counter() - clock > 3:
            return None  # processed, and nothing was queued for it
        time.sleep(0.005)
    return None


def queued_in(con: sqlite3.Connection) -> int:
    return con.execute("SELECT count(*) FROM beacon_events "
                       "WHERE processed_at IS NULL").fetchone()[0]  # fmt: skip


def _statuses(store: Path) -> dict:
    with sqlite3.connect(store) as con:
        rows = con.execute("SELECT status, count(*) FROM actions WHERE run_id LIKE 'rt_%' "
                           "GROUP BY status").fetchall()  # fmt: skip
    return dict(rows)


async def beacon_phase(base: str, domains: list[str], rate: int, seconds: int) -> dict:
    rng = random.Random(11)
    client = Client(base)
    accepted: list[str] = []
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN}

    async def send(i: int, scheduled: float) -> tuple[float, int]:
        event = {"id": uuid.uuid4().hex, "url": "https://www.seller.example" + rng.choice(PAGES)}
        if rng.random() < 0.9:
            event["domain"] = rng.choice(domains)
        body = json.dumps({"events": [event]}).encode()
        status, answer = await client.request("POST", f"/v1/events?site={SITE}", body, headers)
        if status == 202 and json.loads(answer)["accepted"] == 1:
            accepted.append(event["id"])
        return (asyncio.get_running_loop().time() - scheduled) * 1000, status

    clock = time.perf_counter()
    results, elapsed = await open_loop(rate, seconds, send)
    client.close()
    return {"rate": rate, "seconds": seconds, "sent": len(results),
            "achieved_rate": round(len(results) / elapsed, 1), "accepted": len(accepted),
            "refused": sum(1 for _, s in results if s != 202),
            "accept_latency_ms": percentiles([ms for ms, s in results if s == 202]),
            "_ids": accepted, "_started": clock}  # fmt: skip


def stored_touches(workspace: Path, ids: list[str]) -> tuple[int, int]:
    """(events with exactly one touch, touches beyond one per event) among `ids`."""
    import duckdb

    wanted = ["b_" + hashlib.sha256(f"{SITE}|{i}".encode()).hexdigest()[:32] for i in ids]
    con = duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("CREATE TEMP TABLE wanted (touch_id VARCHAR)")
        con.executemany("INSERT INTO wanted VALUES (?)", [(w,) for w in wanted])
        counts = con.execute(
            "SELECT w.touch_id, count(t.touch_id) FROM wanted w LEFT JOIN "
            "touches t USING (touch_id) GROUP BY w.touch_id"
        ).fetchall()
    finally:
        con.close()
    once = sum(1 for _, n in counts if n == 1)
    return once, sum(n - 1 for _, n in counts if n > 1)


# --- one run ---------------------------------------------------------------------------------
def measure(plan: dict, data_dir: Path, scratch: Path) -> dict:
    market = market_dir(data_dir, plan["size"])
    base = base_workspace(market)
    domains, targets = targets_of(base, plan["visits"])
    workspace = scratch / "ws"
    print(f"[run] copying {base} …", flush=True)
    shutil.copytree(base, workspace)
    store = workspace / "app.sqlite"
    server = Server(workspace, scratch / "server.log")
    try:
        ready = server.wait_ready()
        print(
            f"[run] abm serve ready in {ready:.1f}s; personalization at "
            f"{plan['personalize_rate']}/s for {plan['personalize_s']}s …",
            flush=True,
        )
        personal = asyncio.run(personalize_phase(server.base, domains, plan["personalize_rate"],
                                                 plan["personalize_s"]))  # fmt: skip
        print(f"[run] event → action, {len(targets)} visits …", flush=True)
        actions = action_latency_phase(server.base, store, targets)
        print(f"[run] beacon at {plan['beacon_rate']}/s for {plan['beacon_s']}s …", flush=True)
        beacon = asyncio.run(beacon_phase(server.base, domains, plan["beacon_rate"],
                                          plan["beacon_s"]))  # fmt: skip
        drained = wait_drained(store)
        beacon["worker_rate"] = round(
            beacon["accepted"] / (time.perf_counter() - beacon.pop("_started")), 1
        )
        beacon["drained_after_s"] = round(drained, 2)
    finally:
        server.stop()
    once, doubled = stored_touches(workspace, beacon.pop("_ids"))
    beacon |= {"stored_once": once, "lost": beacon["accepted"] - once, "doubled": doubled}
    return {"size": plan["size"], "label": label(plan["size"]), "startup_s": round(ready, 1),
            "personalize": personal, "event_to_action": actions, "beacon": beacon}  # fmt: skip


def targets(result: dict) -> list[dict]:
    p99_ms = result["personalize"]["latency_ms"].get("p99")
    action = result["event_to_action"]["latency_s"].get("p99")
    b = result["beacon"]
    return [
        {"target": f"personalization p99 ≤ {PERSONALIZE_P99_MS:g} ms at "
                   f"{result['personalize']['rate']}/s", "value": p99_ms,
         "pass": p99_ms is not None and p99_ms <= PERSONALIZE_P99_MS},
        {"target": f"event → queued action p99 ≤ {ACTION_P99_S:g} s", "value": action,
         "pass": action is not None and action <= ACTION_P99_S},
        {"target": f"zero loss at {b['rate']} events/s", "value": b["lost"] + b["doubled"],
         "pass": b["lost"] == 0 and b["doubled"] == 0},
    ]  # fmt: skip


def print_table(result: dict) -> None:
    p, a, b = result["personalize"], result["event_to_action"], result["beacon"]
    lp, la, lb = p["latency_ms"], a["latency_s"], b["accept_latency_ms"]
    print(f"\n{result['label']}: abm serve on 127.0.0.1, load from a second process\n")
    print("| measure | n | p50 | p90 | p99 | max | note |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    print(
        f"| personalization (ms) | {lp['n']:,} | {lp['p50']:.1f} | {lp['p90']:.1f} | "
        f"{lp['p99']:.1f} | {lp['max']:.1f} | {p['achieved_rate']}/s, {p['errors']} errors |"
    )
    if la["n"]:
        print(f"| event → queued action (s) | {la['n']} | {la['p50']:.2f} | {la['p90']:.2f} | "
              f"{la['p99']:.2f} | {la['max']:.2f} | the first after the start: "
              f"{a['first_s']:.2f} s; {a['without_action']} visits started no play |")  # fmt: skip
    print(
        f"| beacon accept (ms) | {lb['n']:,} | {lb['p50']:.1f} | {lb['p90']:.1f} | "
        f"{lb['p99']:.1f} | {lb['max']:.1f} | {b['achieved_rate']}/s sent, worker kept "
        f"{b['worker_rate']}/s, lost {b['lost']}, doubled {b['doubled']} |"
    )
    for t in result["targets"]:
        print(f"{'PASS' if t['pass'] else 'MISS'}: {t['target']} (measured {t['value']})")


def markdown(path: Path) -> str:
    doc = json.loads(path.read_text())
    lines = []
    for r in doc["runs"]:
        p, a, b = r["personalize"], r["event_to_action"], r["beacon"]
        lp, la, lb = p["latency_ms"], a["latency_s"], b["accept_latency_ms"]
        lines += [f"**{r['label']}**", "", "| measure | n | p50 | p99 | max |",
                  "| --- | ---: | ---: | ---: | ---: |",
                  f"| personalization at {p['rate']}/s (ms) | {lp['n']:,} | {lp['p50']:.1f} | "
                  f"{lp['p99']:.1f} | {lp['max']:.1f} |",
                  f"| event → queued action (s) | {la.get('n', 0)} | {la.get('p50', 0):.2f} | "
                  f"{la.get('p99', 0):.2f} | {la.get('max', 0):.2f} |",
                  f"| the first event after the start (s) | 1 | | | {a['first_s']:.2f} |",
                  f"| beacon accept at {b['rate']}/s (ms) | {lb['n']:,} | {lb['p50']:.1f} | "
                  f"{lb['p99']:.1f} | {lb['max']:.1f} |", ""]  # fmt: skip
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10k accounts, shorter phases")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--markdown", action="store_true", help="print results/server.json as tables")
    p.add_argument("--child", choices=["prepare"], help=argparse.SUPPRESS)
    p.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        print(json.dumps(prepare_child(args.source, args.workspace)))
        return 0
    if args.markdown:
        print(markdown(RESULTS))
        return 0
    plan = PLANS["quick" if args.quick else "full"]
    with tempfile.TemporaryDirectory(prefix="abmkit-bench-server-") as scratch:
        result = measure(plan, args.data_dir, Path(scratch))
    result["targets"] = targets(result)
    print_table(result)
    doc = {"benchmark": "server", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "machine": machine(), "plan": plan, "runs": [result], "complete": True}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS}")
    return 1 if result["beacon"]["lost"] or result["beacon"]["doubled"] else 0


if __name__ == "__main__":
    sys.exit(main())
