"""The executor against real receivers on 127.0.0.1 (a webhook endpoint that checks signatures,
an aiosmtpd server) and a real SQLite application store: each action leaves once with its
idempotency key, failures are retried with backoff then dead-lettered, dry runs write the exact
bytes, guardrails hold what must wait, files are written once, and two executors never take the
same action (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from abmkit.act import audiences, outbox
from abmkit.act.executor import Executor, ExecutorReport, main
from abmkit.act.faults import ENV
from abmkit.config.settings import ExecutorSettings, Settings
from abmkit.config.workspace import init_workspace
from abmkit.store import AppStore, open_app_store
from abmkit.store.models import Action
from receivers import Inbox, WebhookReceiver, free_port, running_inbox

SECRET = "whsec-test"
T0 = dt.datetime(2025, 6, 3, 14, 0)  # a Tuesday afternoon, UTC
HOUR = dt.timedelta(hours=1)


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def receiver(monkeypatch) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as r:
        monkeypatch.setenv("ABM_SECRET_WEBHOOK_KEY", SECRET)
        monkeypatch.setenv("ABM_SECRET_SLACK_WEBHOOK_URL", f"{r.url}/slack")
        yield r


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with running_inbox() as box:
        yield box


@pytest.fixture
def store(tmp_path) -> Iterator[AppStore]:
    app = open_app_store(f"sqlite:///{tmp_path / 'app.sqlite'}")
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """An empty application store on SQLite, then on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite'}"
    return request.getfixturevalue("postgres_url").replace("postgres://", "postgresql+psycopg://")


@pytest.fixture
def any_store(store_url) -> Iterator[AppStore]:
    app = open_app_store(store_url)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def settings(receiver, inbox) -> Settings:
    return configure(receiver, inbox)


def configure(receiver: WebhookReceiver, inbox: Inbox, **sections) -> Settings:
    """Live e-mail, webhook, Slack and owner alerts to the test receivers, plus `sections`."""
    data = {
        "channels": {
            "live": ["email", "webhook", "slack", "owner_alert"],
            "webhook": {"url": f"{receiver.url}/hook", "timeout_s": 5},
            "email": {"host": "127.0.0.1", "port": inbox.port, "sender": "abm@seller.example"},
        },
        "executor": {"backoff_s": 30, "backoff_max_s": 600, "max_attempts": 4},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Settings.model_validate(data)


def executor(settings: Settings, store: AppStore, tmp_path: Path) -> Executor:
    return Executor(settings, store, tmp_path / "ws", rng=random.Random(7))


def queue(store: AppStore, id: str, channel: str, payload: dict, *,
          not_before: dt.datetime = T0, **columns) -> None:  # fmt: skip
    """Put one action in the outbox as the agent does."""
    values = dict(id=id, key=f"key-{id}", created_at=T0 - HOUR, run_id="run-1", play="surge",
                  step=1, account_id="acme", channel=channel, payload=payload, status="queued",
                  not_before=not_before, attempts=0) | columns  # fmt: skip
    with Session(store.engine) as session, session.begin():
        session.add(Action(**values))


def action(store: AppStore, id: str) -> Action:
    with Session(store.engine, expire_on_commit=False) as session:
        found = session.get(Action, id)
        assert found is not None
        return found


def webhook(event: str = "surge") -> dict:
    return {"body": {"event": event, "account": "acme.com", "score": 87, "contact": "Zoë"}}


def mail(to: str = "ann@acme.com", **extra) -> dict:
    text = "Hi Ann,\n\nThree answers to the questions on the pricing page.\n"
    subject = "Your pricing questions"
    return {"to": to, "to_name": "Ann Lee", "subject": subject, "text": text} | extra


def slack_alert() -> dict:
    return {"body": {"text": "Acme: pricing page visit, Tier 1"}}


# -- sent once ----------------------------------------------------------------------------------
def test_each_action_leaves_once_with_its_idempotency_key(settings, any_store, receiver, inbox,
                                                          tmp_path):  # fmt: skip
    store = any_store
    queue(store, "a1", "webhook", webhook())
    queue(store, "a2", "email", mail(unsubscribe="https://seller.example/u/a2"))
    queue(store, "a3", "owner_alert", slack_alert())
    run = executor(settings, store, tmp_path)

    assert run.run_once(T0) == ExecutorReport(sent=3)

    [hook] = receiver.delivered("/hook")  # its signature verified, or the receiver says 401
    assert hook.key == "key-a1"
    assert hook.body == '{"account":"acme.com","contact":"Zoë","event":"surge","score":87}'.encode()
    [alert] = receiver.delivered("/slack")
    assert (alert.key, json.loads(alert.body)) == ("key-a3", slack_alert()["body"])
    [raw] = inbox.received
    assert inbox.message_ids() == ["<key-a2@abmkit.invalid>"]
    assert b"List-Unsubscribe: <https://seller.example/u/a2>" in raw
    for id in ("a1", "a2", "a3"):
        row = action(store, id)
        assert (row.status, row.attempts, row.sent_at, row.lease_until) == ("sent", 1, T0, None)
    assert action(store, "a1").receipt["status"] == 200
    assert action(store, "a2").receipt["message_id"] == "<key-a2@abmkit.invalid>"

    assert run.run_once(T0 + HOUR) == ExecutorReport()  # nothing is sent twice
    assert len(receiver.requests) == 2 and len(inbox.received) == 1
    trail = Counter((e.target, e.outcome) for e in store.events("outbox"))
    assert trail == {(f"action {i}", o): 1 for i in ("a1", "a2", "a3") for o in ("claimed", "sent")}


# -- retries, backoff, dead letters -------------------------------------------------------------
def test_a_503_is_retried_after_a_backoff_with_the_same_key(settings, store, receiver, tmp_path):
    receiver.answers.append((503, "busy, try later"))
    queue(store, "a1", "webhook", webhook())
    run = executor(settings, store, tmp_path)

    assert run.run_once(T0) == ExecutorReport(retried=1)
    first = action(store, "a1")
    assert (first.status, first.attempts) == ("queued", 1)
    assert "HTTP 503: busy, try later" in first.last_error
    assert T0 + dt.timedelta(seconds=15) <= first.not_before <= T0 + dt.timedelta(seconds=30)
    assert run.run_once(first.not_before - dt.timedelta(seconds=1)) == ExecutorReport()

    assert run.run_once(first.not_before) == ExecutorReport(sent=1)
    assert (action(store, "a1").status, action(store, "a1").attempts) == ("sent", 2)
    assert [(r.key, r.status) for r in receiver.requests] == [("key-a1", 503), ("key-a1", 200)]


@pytest.mark.parametrize(("status", "outcome"), [
    (408, "retried"), (429, "retried"), (500, "retried"), (502, "retried"),
    (400, "dead"), (401, "dead"), (404, "dead"), (422, "dead"),
])  # fmt: skip
def test_a_receivers_answer_decides_between_retry_and_dead(settings, store, receiver, tmp_path,
                                                           status, outcome):  # fmt: skip
    receiver.answers.append((status, "missing field: account_id"))
    queue(store, "a1", "webhook", webhook())

    report = executor(settings, store, tmp_path).run_once(T0)

    assert report == ExecutorReport(**{outcome: 1})
    row = action(store, "a1")
    assert row.status == ("queued" if outcome == "retried" else "dead") and row.attempts == 1
    assert f"HTTP {status}: missing field: account_id" in row.last_error


def test_a_network_failure_is_retried(receiver, inbox, store, tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    settings = configure(receiver, inbox, channels={
        "live": ["webhook"], "webhook": {"url": nobody, "timeout_s": 2}})  # fmt: skip
    queue(store, "a1", "webhook", webhook())

    assert executor(settings, store, tmp_path).run_once(T0) == ExecutorReport(retried=1)
    assert "ConnectError" in action(store, "a1").last_error


def test_attempts_used_up_make_the_action_dead(settings, store, receiver, tmp_path):
    receiver.answers.extend([(503, "down")] * 4)  # max_attempts is 4
    queue(store, "a1", "webhook", webhook())
    run, now, waits = executor(settings, store, tmp_path), T0, []

    for _ in range(3):
        assert run.run_once(now) == ExecutorReport(retried=1)
        waits.append((action(store, "a1").not_before - now).total_seconds())
        now = action(store, "a1").not_before
    assert run.run_once(now) == ExecutorReport(dead=1)

    row = action(store, "a1")
    assert (row.status, row.attempts) == ("dead", 4)
    assert "attempt 4 of 4: giving up" in row.last_error
    assert [15 <= waits[0] <= 30, 30 <= waits[1] <= 60, 60 <= waits[2] <= 120] == [True] * 3
    assert run.run_once(now + 24 * HOUR) == ExecutorReport() and len(receiver.requests) == 4


@given(st.integers(1, 40), st.floats(0.1, 100), st.floats(1, 10_000), st.integers(0, 2**32))
def test_backoff_doubles_with_jitter_and_never_exceeds_its_bound(attempts, base, most, seed):
    config = ExecutorSettings(backoff_s=base, backoff_max_s=most)
    ceiling = min(most, base * 2 ** (attempts - 1))
    assert ceiling / 2 <= outbox.backoff_s(attempts, config, random.Random(seed)) <= ceiling


def test_an_action_taken_over_too_often_is_dead(settings, store, receiver, tmp_path):
    # left `sending` by executors that died at its 4th (last) attempt, lease long expired
    queue(store, "a1", "webhook", webhook(), status="sending", attempts=4, lease_until=T0)
    assert executor(settings, store, tmp_path).run_once(T0 + HOUR) == ExecutorReport(dead=1)
    assert "gave up" in action(store, "a1").last_error and receiver.requests == []


@pytest.mark.parametrize(("channel", "payload", "reason"), [
    ("fax", {"body": {}}, "no connector sends 'fax'"),
    ("email", {"to": "ann@acme.com", "text": "t"}, "no str 'subject'"),
    ("webhook", {"body": "not an object"}, "no dict 'body'"),
    ("email", mail(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ("linkedin_audience", {"audience": "../etc", "kind": "contacts", "rows": []}, "no audience"),
    ("google_audience", {"audience": "g", "kind": "companies", "rows": []}, "takes contacts"),
])  # fmt: skip
def test_a_malformed_action_is_dead_at_once(settings, store, receiver, tmp_path, channel,
                                            payload, reason):  # fmt: skip
    queue(store, "a1", channel, payload)
    assert executor(settings, store, tmp_path).run_once(T0) == ExecutorReport(dead=1)
    assert reason in action(store, "a1").last_error and receiver.requests == []


# -- dry run ------------------------------------------------------------------------------------
def test_a_dry_run_writes_the_exact_bytes_and_sends_nothing(settings, store, receiver, inbox,
                                                            tmp_path):  # fmt: skip
    dry = settings.model_copy(update={"channels": settings.channels.model_copy(
        update={"live": []})})  # fmt: skip
    queue(store, "a1", "webhook", webhook())
    queue(store, "a2", "email", mail())
    queue(store, "a3", "slack", slack_alert())

    assert executor(dry, store, tmp_path).run_once(T0) == ExecutorReport(dry_run=3)

    assert receiver.requests == [] and inbox.received == []
    out = tmp_path / "ws" / "outbox" / "dry_run"
    assert (out / "webhook" / "a1.json").read_bytes() == (
        '{"account":"acme.com","contact":"Zoë","event":"surge","score":87}'.encode())  # fmt: skip
    assert json.loads((out / "slack" / "a3.json").read_bytes()) == slack_alert()["body"]
    assert [action(store, i).status for i in ("a1", "a2", "a3")] == ["dry_run"] * 3
    assert action(store, "a2").receipt == {"file": "outbox/dry_run/email/a2.eml"}

    # the same action sent live puts on the wire exactly the bytes the dry run wrote
    with Session(store.engine) as session, session.begin():
        session.execute(update(Action).where(Action.id == "a2").values(status="queued"))
    assert executor(settings, store, tmp_path).run_once(T0) == ExecutorReport(sent=1)
    assert inbox.received == [(out / "email" / "a2.eml").read_bytes()]


# -- quiet hours --------------------------------------------------------------------------------
def test_a_message_reaching_quiet_hours_is_held_until_they_end(settings, store, receiver, inbox,
                                                               tmp_path):  # fmt: skip
    night = dt.datetime(2025, 6, 3, 2, 0)  # 22:00 on Monday in New York
    queue(store, "a1", "email", mail(timezone="America/New_York"), not_before=night)
    queue(store, "a2", "webhook", webhook(), not_before=night)  # a system: no quiet hours
    run = executor(settings, store, tmp_path)

    assert run.run_once(night) == ExecutorReport(sent=1, held=1)
    held = action(store, "a1")
    assert (held.status, held.attempts) == ("queued", 0)  # holding is not an attempt
    assert held.not_before == dt.datetime(2025, 6, 3, 12, 0)  # 08:00 in New York
    assert "quiet hours (20:00-08:00 and weekends, America/New_York)" in held.last_error
    assert inbox.received == []

    assert run.run_once(held.not_before) == ExecutorReport(sent=1)
    assert inbox.message_ids() == ["<key-a1@abmkit.invalid>"]


@pytest.mark.parametrize(("channel", "payload", "now", "until"), [
    ("owner_alert", slack_alert(), "2025-06-07 15:00", None),  # our own team: no quiet hours
    ("email", mail(timezone_country="US"), "2025-06-03 13:00", "2025-06-03 15:00"),  # L.A.
    ("email", mail(timezone_country="Japan"), "2025-06-03 23:00", None),  # 08:00 in Tokyo
    ("email", mail(timezone="Asia/Tokyo"), "2025-06-03 10:59", None),  # 19:59 in Tokyo
    ("email", mail(timezone="Asia/Tokyo"), "2025-06-03 11:00", "2025-06-03 23:00"),
    ("webhook", webhook(), "2025-06-07 23:00", None),  # a system, not a person
])  # fmt: skip
def test_quiet_hours_are_those_where_the_recipient_lives(settings, store, tmp_path, channel,
                                                         payload, now, until):  # fmt: skip
    at = dt.datetime.fromisoformat(now)
    queue(store, "a1", channel, payload, not_before=at)
    report = executor(settings, store, tmp_path).run_once(at)
    assert report == (ExecutorReport(held=1) if until else ExecutorReport(sent=1))
    if until:
        assert action(store, "a1").not_before == dt.datetime.fromisoformat(until)


# -- ad audiences -------------------------------------------------------------------------------
def companies(*names: str) -> list[dict]:
    return [{"name": n.title(), "domain": f"{n}.com", "country": "US"} for n in names]


def test_an_audience_waits_for_its_minimum_then_is_written_whole(receiver, inbox, any_store,
                                                                 tmp_path):  # fmt: skip
    store = any_store
    minimum = {"min_audience_size_by_channel": {"linkedin_audience": 4}}
    settings = configure(receiver, inbox, guardrails=minimum)
    audience = {"audience": "surge-li", "kind": "companies"}
    file = tmp_path / "ws" / "outbox" / "audiences" / "linkedin_audience" / "surge-li.csv"
    run = executor(settings, store, tmp_path)

    queue(store, "a1", "linkedin_audience", audience | {"rows": companies("acme", "globex")})
    queue(store, "a2", "linkedin_audience", audience | {"rows": companies("acme")})  # a repeat
    assert run.run_once(T0) == ExecutorReport(held=2)
    assert not file.exists()
    for id in ("a1", "a2"):
        row = action(store, id)
        assert (row.status, row.attempts) == ("queued", 0)
        assert row.last_error == "audience surge-li has 2 of the 4 members linkedin_audience needs"
    trail = len(store.events("outbox"))
    assert run.run_once(T0 + HOUR / 2) == ExecutorReport(held=2)  # still too small:
    assert len(store.events("outbox")) == trail  # nothing claimed, nothing written

    queue(store, "a3", "linkedin_audience", audience | {"rows": companies("initech", "umbrella")})
    assert run.run_once(T0 + HOUR) == ExecutorReport(sent=3)
    text = file.read_bytes().decode()
    assert text == audiences.linkedin_companies(companies("acme", "globex", "initech", "umbrella"))
    assert text.startswith("companyname,companywebsite,companyemaildomain,linkedincompanypageurl,"
                           "stocksymbol,industry,city,state,companycountry,zipcode\r\n"
                           "Acme,https://acme.com,acme.com,")  # fmt: skip

    queue(store, "a4", "linkedin_audience", audience | {"rows": companies("hooli")})
    assert run.run_once(T0 + 2 * HOUR) == ExecutorReport(sent=1)  # the minimum is met: at once
    assert file.read_bytes().decode() == audiences.linkedin_companies(
        companies("acme", "globex", "initech", "umbrella", "hooli"))  # fmt: skip
    assert action(store, "a4").receipt == {
        "file": "outbox/audiences/linkedin_audience/surge-li.csv", "members": 5}  # fmt: skip


@pytest.mark.parametrize(("channel", "name", "first_line"), [
    ("google_audience", "g.csv", "Email,Phone,First Name,Last Name,Country,Zip\r\n"),
    ("meta_audience", "g.json", '{"schema":["EMAIL","PHONE","FN","LN","ZIP","CT","ST","COUNTRY"]'),
    ("linkedin_audience", "g.csv",
     "email,firstname,lastname,jobtitle,employeecompany,country,googleaid\r\n"),
])  # fmt: skip
def test_each_platform_gets_its_own_format(receiver, inbox, store, tmp_path, channel, name,
                                           first_line):  # fmt: skip
    minimum = {"min_audience_size_by_channel": {channel: 2}}
    settings = configure(receiver, inbox, guardrails=minimum)
    people = [{"email": "Ann@Acme.com", "first_name": "Ann", "country": "US"},
              {"email": "bo@globex.com", "first_name": "Bo", "country": "DE"}]  # fmt: skip
    queue(store, "a1", channel, {"audience": "g", "kind": "contacts", "rows": people})

    assert executor(settings, store, tmp_path).run_once(T0) == ExecutorReport(sent=1)
    text = (tmp_path / "ws" / "outbox" / "audiences" / channel / name).read_bytes().decode()
    assert text.startswith(first_line)
    if channel == "meta_audience":
        assert json.loads(text) == audiences.meta_custom_audience(people)


# -- file connectors ----------------------------------------------------------------------------
def task(subject: str) -> dict:
    return {"format": "crm_task", "row": {"subject": subject, "owner": "rep@seller.example"}}


def test_rows_are_appended_once_even_when_a_crash_repeats_the_send(settings, store, tmp_path):
    run = executor(settings, store, tmp_path)
    queue(store, "a1", "task", task("Call Ann"))
    assert run.run_once(T0) == ExecutorReport(sent=1)
    queue(store, "a2", "task", task("Call Bo, re: pricing"))
    assert run.run_once(T0) == ExecutorReport(sent=1)
    day = tmp_path / "ws" / "outbox" / "task" / "2025-06-03.csv"
    written = ("action_id,idempotency_key,format,subject,owner\r\n"
               "a1,key-a1,crm_task,Call Ann,rep@seller.example\r\n"
               'a2,key-a2,crm_task,"Call Bo, re: pricing",rep@seller.example\r\n')  # fmt: skip
    assert day.read_bytes().decode() == written

    # as a crash after the file was replaced and before the commit leaves a2, found next day
    late = T0.replace(hour=23, minute=59)
    with Session(store.engine) as session, session.begin():
        session.execute(update(Action).where(Action.id == "a2").values(
            status="sending", attempts=1, lease_until=late, sent_at=None))  # fmt: skip
    assert run.run_once(late + HOUR) == ExecutorReport(sent=1)
    assert day.read_bytes().decode() == written  # not repeated
    assert not (day.parent / "2025-06-04.csv").exists()
    assert action(store, "a2").receipt == {"file": "outbox/task/2025-06-03.csv"}


def test_a_sequence_waits_for_the_morning_and_a_task_does_not(settings, store, tmp_path):
    night = dt.datetime(2025, 6, 3, 22, 0)
    queue(store, "a1", "sequence", {"format": "outreach", "row": {"email": "ann@acme.com"}},
          not_before=night)  # fmt: skip
    queue(store, "a2", "task", task("Call Ann"), not_before=night)
    assert executor(settings, store, tmp_path).run_once(night) == ExecutorReport(sent=1, held=1)
    assert action(store, "a1").not_before == dt.datetime(2025, 6, 4, 8, 0)


# -- claims -------------------------------------------------------------------------------------
def test_a_live_lease_is_respected_and_an_expired_one_taken_over(store):
    queue(store, "live", "webhook", webhook(), status="sending", attempts=1,
          lease_until=T0 + HOUR)  # fmt: skip
    queue(store, "gone", "webhook", webhook(), status="sending", attempts=1, lease_until=T0)
    queue(store, "later", "webhook", webhook(), not_before=T0 + HOUR)

    [taken] = outbox.claim(store.engine, T0, lease_s=60, batch=10, worker="w2")

    assert (taken.id, taken.attempts, taken.resumed_from) == ("gone", 2, T0)
    assert taken.lease_until == T0 + dt.timedelta(seconds=60)
    # the executor that lost "gone" can no longer change it: its claim was attempt 1
    stale = outbox.Claim("gone", "key-gone", "webhook", {}, 1, T0, None)
    assert outbox.mark_sent(store.engine, [stale], {}, T0, worker="w1") == 0
    assert outbox.mark_sent(store.engine, [taken], {}, T0, worker="w2") == 1


def two_engines(url: str) -> list:
    connect = {"timeout": 30} if url.startswith("sqlite") else {}
    return [create_engine(url, connect_args=connect) for _ in range(2)]


def test_two_executors_never_claim_the_same_action(store_url):
    app = open_app_store(store_url)
    for i in range(300):
        queue(app, f"a{i:03}", "webhook", webhook())
    engines, claimed = two_engines(store_url), [[], []]
    start = threading.Barrier(2)

    def drain(n: int) -> None:
        start.wait()
        while batch := outbox.claim(engines[n], T0, lease_s=60, batch=7, worker=f"w{n}"):
            claimed[n].extend(c.id for c in batch)
            time.sleep(0.005)  # sending them: SQLite's busy wait would starve the other

    threads = [threading.Thread(target=drain, args=(n,)) for n in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]

    assert claimed[0] and claimed[1]  # both worked
    assert sorted(claimed[0] + claimed[1]) == [f"a{i:03}" for i in range(300)]  # once each
    with Session(app.engine) as session:
        assert set(session.scalars(select(Action.attempts))) == {1}
    assert len(app.events("outbox", limit=1000)) == 300
    for engine in engines:
        engine.dispose()
    app.close()


def test_two_executors_running_at_once_deliver_each_action_once(settings, receiver, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    app = open_app_store(url)
    for i in range(40):
        queue(app, f"a{i:02}", "webhook", webhook())
    small = settings.model_copy(update={"executor": settings.executor.model_copy(
        update={"batch": 3})})  # fmt: skip
    runs = [Executor(small, AppStore(engine), tmp_path / "ws") for engine in two_engines(url)]
    reports: list[ExecutorReport] = []
    threads = [threading.Thread(target=lambda r=r: reports.append(r.run_once(T0))) for r in runs]
    [t.start() for t in threads]
    [t.join() for t in threads]

    assert sorted(r.key for r in receiver.delivered()) == [f"key-a{i:02}" for i in range(40)]
    assert sum(r.sent for r in reports) == 40
    for r in runs:
        r.engine.dispose()
    app.close()


def test_run_forever_sends_what_comes_due_until_stopped(settings, store, receiver, tmp_path):
    run = Executor(settings, store, tmp_path / "ws", clock=lambda: T0)
    stop = threading.Event()
    totals: list[ExecutorReport] = []
    worker = threading.Thread(target=lambda: totals.append(run.run_forever(0.05, stop)))
    queue(store, "a1", "webhook", webhook())
    worker.start()
    try:
        wait_for(lambda: len(receiver.delivered()) == 1)
        queue(store, "a2", "webhook", webhook())  # queued while it runs
        wait_for(lambda: len(receiver.delivered()) == 2)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert totals == [ExecutorReport(sent=2)]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_module_runs_a_workspace_and_refuses_what_is_not_one(tmp_path, capsys, monkeypatch):
    ws = init_workspace(tmp_path / "ws").path
    assert main(["--workspace", str(ws), "--once"]) == 0
    assert capsys.readouterr().out == "sent 0, dry-run 0, retried 0, dead 0, held 0, blocked 0\n"
    assert main(["--workspace", str(tmp_path / "typo"), "--once"]) == 1
    assert "not a workspace (no abmkit.yaml" in capsys.readouterr().err
    monkeypatch.setenv(ENV, "clamed:1")  # misspelt
    assert main(["--workspace", str(ws), "--once"]) == 1
    assert "ABMKIT_FAULT_CRASH_AT='clamed:1': expected <point>:<n>" in capsys.readouterr().err
