"""Crash safety: the executor is SIGKILLed at each named point of its send path, in a real
process (`python -m abmkit.act.executor`), then run again until the outbox is empty. A real
webhook receiver and a real SMTP server count deliveries per idempotency key: every action
arrives, exactly once, except after a kill between the remote's acknowledgement and the commit,
where the one repeat carries the same key (so the receiver can recognize it)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from abmkit.act.faults import ENV, EXECUTOR_POINTS
from abmkit.config.settings import Settings
from abmkit.config.workspace import init_workspace
from abmkit.store import open_app_store
from abmkit.store.models import Action
from receivers import Inbox, WebhookReceiver, running_inbox

pytestmark = pytest.mark.slow

SECRET = "whsec-crash"
N = 6


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as r:
        yield r


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with running_inbox() as box:
        yield box


def workspace(path: Path, receiver: WebhookReceiver, inbox: Inbox) -> Path:
    """A workspace sending live to the test receivers, with a 1-second lease so that a dead
    executor's actions are taken over quickly, and no quiet hours (the test runs any time)."""
    settings = Settings.model_validate({
        "channels": {"live": ["email", "webhook"],
                     "webhook": {"url": f"{receiver.url}/hook", "timeout_s": 5},
                     "email": {"host": "127.0.0.1", "port": inbox.port}},
        "executor": {"lease_s": 1, "backoff_s": 1, "batch": 100},
        "guardrails": {"quiet_hours": "00:00-00:00", "quiet_weekends": False},
    })  # fmt: skip
    return init_workspace(path, settings=settings).path


def queue_mixed(url: str) -> None:
    """N actions, webhooks and e-mails taking turns, all due."""
    due = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
    store = open_app_store(url)
    with Session(store.engine) as session, session.begin():
        for i in range(1, N + 1):
            hook = {"body": {"event": "surge", "n": i}}
            mail = {"to": f"p{i}@acme.com", "subject": f"Hello {i}", "text": "Hi.\n"}
            channel, payload = ("webhook", hook) if i % 2 else ("email", mail)
            session.add(Action(id=f"c{i}", key=f"key-c{i}", created_at=due, run_id="r", play="p",
                               step=1, account_id="acme", channel=channel, payload=payload,
                               status="queued", not_before=due, attempts=0))  # fmt: skip
    store.close()


def run_executor(ws: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["ABM_SECRET_WEBHOOK_KEY"] = SECRET
    if fault:
        env[ENV] = fault
    command = [sys.executable, "-m", "abmkit.act.executor", "--workspace", str(ws), "--once"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def statuses(url: str) -> dict[str, tuple[str, int]]:
    store = open_app_store(url)
    with Session(store.engine) as session:
        rows = session.execute(select(Action.id, Action.status, Action.attempts)).all()
    store.close()
    return {id: (status, attempts) for id, status, attempts in rows}


def delivered_keys(receiver: WebhookReceiver, inbox: Inbox) -> list[str]:
    """The idempotency key of every delivery, repeats included."""
    mails = [mid.strip("<>").split("@")[0] for mid in inbox.message_ids()]
    return [r.key for r in receiver.delivered("/hook")] + mails


@pytest.mark.parametrize("nth", [2, 3], ids=["at-an-email", "at-a-webhook"])
@pytest.mark.parametrize("point", EXECUTOR_POINTS)
def test_a_crash_at_any_point_loses_nothing_and_repeats_only_the_acknowledged(
    point, nth, tmp_path, receiver, inbox
):
    # actions go in order c1 (webhook), c2 (e-mail), c3 (webhook)...: the kill comes at the
    # nth pass through the point, so nth - 1 actions went before it
    ws = workspace(tmp_path / "ws", receiver, inbox)
    url = f"sqlite:///{ws.resolve() / 'app.sqlite'}"
    queue_mixed(url)

    crashed = run_executor(ws, f"{point}:{nth}")

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    went_before = nth - 1 if point in ("claimed", "connected") else nth
    assert len(delivered_keys(receiver, inbox)) == went_before
    assert statuses(url)[f"c{nth}"][0] == ("sent" if point == "committed" else "sending")

    deadline = time.monotonic() + 60
    while any(status != "sent" for status, _ in statuses(url).values()):
        assert time.monotonic() < deadline, statuses(url)
        time.sleep(1.0)  # the dead executor's lease runs out after 1 s
        again = run_executor(ws)
        assert again.returncode == 0, again.stderr

    keys = delivered_keys(receiver, inbox)
    assert sorted(set(keys)) == [f"key-c{i}" for i in range(1, N + 1)]  # nothing lost
    repeats = {k: n for k, n in Counter(keys).items() if n > 1}
    if point == "acknowledged":
        assert len(keys) == N + 1 and repeats == {f"key-c{nth}": 2}  # one repeat, same key
        assert statuses(url)[f"c{nth}"] == ("sent", 2)
    else:
        assert len(keys) == N and repeats == {}
    assert all(status == "sent" for status, _ in statuses(url).values())
