"""A small scored workspace for the real-time path (beacon, personalization, routing): 30
accounts with owners, IP ranges and a buying committee, its site key allowed from one origin,
served by the real app (Starlette's test client, or a real uvicorn on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abmkit.app import Abm
from abmkit.config.render import render_config
from abmkit.config.settings import Settings
from abmkit.config.workspace import CONFIG_NAME, init_workspace
from abmkit.measure.holdout import TREATED, group_of, tier_scope
from abmkit.resolve.visitors import KnownContact, sign_contact, signing_key
from abmkit.store.models import Action, BeaconEvent
from conftest import ok, write_csv

SITE = "site_realtime_test"
ORIGIN = "https://www.seller.example"
OTHER_ORIGIN = "https://evil.example"
ACCOUNTS = 30
OWNED = 20
"""Accounts A00..A19 have an owner, the others none."""
SETTINGS: dict[str, Any] = {
    "server": {"sites": [{"key": SITE, "name": "test site", "origins": [ORIGIN]}],
               "trusted_proxies": ["testclient"]},
    "beacon": {"idle_poll_s": 0.05, "settings_check_s": 0.2},
}  # fmt: skip


def domain(n: int) -> str:
    return f"acct{n:02d}-test.com"


def ip(n: int) -> str:
    """An address inside account n's range."""
    return f"10.0.{n}.7"


def account_id(n: int) -> str:
    return f"A{n:02d}"


def build(root: Path, settings: dict[str, Any] | None = None) -> Path:
    """The workspace: accounts (every other one Financial Services), one IP range each, a
    champion and an economic buyer at each, scored."""
    ws = root / "ws"
    init_workspace(ws, settings=Settings.model_validate(merged(SETTINGS, settings or {})))
    files = root / "files"
    accounts = [[account_id(n), f"Company {n:02d}", domain(n),
                 "Financial Services" if n % 2 else "Technology", 500 + 10 * n, "United States",
                 "Jordan Lee" if n < OWNED else ""] for n in range(ACCOUNTS)]  # fmt: skip
    ranges = [[f"10.0.{n}.0", f"10.0.{n}.255", domain(n)] for n in range(ACCOUNTS)]
    people = [[f"C{n:02d}{k}", f"{who}{n}@{domain(n)}", who.title(), f"Person{n}", title,
               account_id(n)] for n in range(ACCOUNTS)
              for k, (who, title) in enumerate([("dana", "Director of Marketing"),
                                                ("erin", "VP Finance")])]  # fmt: skip
    with Abm.open(ws) as abm:
        load = abm.ingest
        ok(load("accounts", [write_csv(files / "accounts.csv", ["account_id", "name", "domain",
             "industry", "employees", "country", "owner"], accounts)])[0])  # fmt: skip
        ok(load("ip_ranges", [write_csv(files / "ranges.csv", ["start_ip", "end_ip", "domain"],
                                        ranges)])[0])  # fmt: skip
        ok(load("contacts", [write_csv(files / "contacts.csv", ["contact_id", "email",
             "first_name", "last_name", "title", "account_id"], people)])[0])  # fmt: skip
        abm.score()
    return ws


def merged(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value  # fmt: skip
    return out


def copy(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def write_settings(ws: Path, settings: dict[str, Any]) -> None:
    """Rewrite the workspace's abmkit.yaml with `settings` over the test's own."""
    text = render_config(Settings.model_validate(merged(SETTINGS, settings)))
    (ws / CONFIG_NAME).write_text(text, encoding="utf-8")


def treated_tier1(app: Any) -> str:
    """A Tier 1 account not in the Tier 1 holdout, of a running app (or an `Abm`)."""
    abm = getattr(app, "state", app).abm if hasattr(app, "state") else app
    with gate_of(app):
        scores = abm.warehouse.table("account_scores")
        ids = scores.filter(scores.tier == 1).account_id.to_pyarrow().to_pylist()
    h = abm.settings.measure.holdout
    return next(a for a in sorted(ids) if group_of(h.salt, tier_scope(1), a, h.share) == TREATED)


def token(abm: Abm, n: int, persona: str = "champion") -> str:
    """The known-contact token an e-mail to account n's champion carries."""
    contact = KnownContact(f"C{n:02d}0", account_id(n), persona, dt.datetime.now(dt.UTC)
                           .replace(tzinfo=None))  # fmt: skip
    return sign_contact(signing_key(abm.app_store), contact)


def event(url: str = "https://www.seller.example/pricing", **fields: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "url": url, **fields}


def post(client: TestClient, *events: dict[str, Any], headers: dict | None = None,
         site: str | None = SITE) -> Any:  # fmt: skip
    query = f"?site={site}" if site else ""
    return client.post(f"/v1/events{query}", json={"events": list(events)}, headers=headers)


def wait_processed(abm: Abm, timeout: float = 60.0) -> None:
    """Until the queue holds no unprocessed event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(abm.app_store.engine) as s:
            waiting = s.scalar(select(func.count()).select_from(BeaconEvent)
                               .where(BeaconEvent.processed_at.is_(None)))  # fmt: skip
        if not waiting:
            return
        time.sleep(0.05)
    raise AssertionError(f"{waiting} beacon events still unprocessed after {timeout} s")


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not true after {timeout} s: {check}")


def actions_of(abm: Abm, account: str) -> list[Action]:
    with Session(abm.app_store.engine) as s:
        return list(s.scalars(select(Action).where(Action.account_id == account)))


def touches(app: Any) -> list[dict]:
    """The beacon's touches, read holding the app's warehouse gate (its worker shares the
    connection)."""
    with app.state.gate:
        t = app.state.abm.warehouse.table("touches")
        return t.filter(t.source == "beacon").order_by("ts").to_pyarrow().to_pylist()


def gate_of(app: Any) -> Any:
    return app.state.gate if hasattr(app, "state") else nullcontext()
