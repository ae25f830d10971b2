"""`abm agent …` and `abm actions …`: the agent's passes, its explanations, the approval inbox and
the outbox's executor."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from abmkit.cli.common import SetOpt, WorkspaceOpt, open_app
from abmkit.decide import inbox
from abmkit.errors import AbmError
from abmkit.store.models import Action

agent_app = typer.Typer(
    help="The agent: one pass over new signals, continuous watch, and why it did what it did.",
    no_args_is_help=True,
)
actions_app = typer.Typer(
    help="The approval inbox and the outbox: list, show, approve, reject, edit, send.",
    no_args_is_help=True,
)
crm_app = typer.Typer(
    help="Write the scores back to the CRM (Salesforce or HubSpot files).", no_args_is_help=True
)
console = Console()

AsOfOpt = Annotated[
    dt.datetime | None,
    typer.Option("--as-of", help="Act as if it were this moment (UTC), e.g. the end of a "
                 "simulated market's data; default: now."),
]  # fmt: skip


@agent_app.command("run")
def agent_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and show; store nothing.")]
    = False,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """One pass: observe new signals, evaluate the plays, decide, check every guardrail, queue
    the actions (or leave them for approval), log why."""
    from abmkit.decide.loop import run_pass

    with open_app(workspace, set_) as abm:
        report = run_pass(abm, now=as_of, dry_run=dry_run)
    pass_report(console, report)


@agent_app.command("watch")
def agent_watch(
    interval: Annotated[float | None, typer.Option(help="Minutes between passes "
                                                   "(default: agent.interval_minutes).")] = None,
    passes: Annotated[int | None, typer.Option(help="Stop after this many passes.")] = None,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Run passes until stopped (Ctrl-C), learning each channel's rates once a day."""
    from abmkit.decide.loop import watch

    with open_app(workspace, set_) as abm:
        minutes = interval if interval is not None else abm.settings.agent.interval_minutes
        try:
            watch(abm, interval_s=minutes * 60, passes=passes,
                  on_pass=lambda r: pass_report(console, r, brief=True))  # fmt: skip
        except KeyboardInterrupt:
            console.print("stopped")


@agent_app.command("budget")
def agent_budget(
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Split the paid budget across channel × tier arms by pipeline per dollar (the bandit):
    each arm's spend, pipeline, chance of being best, new budget and why."""
    from abmkit.decide.allocation import cycle

    with open_app(workspace, set_) as abm:
        allocation = cycle(abm, as_of or inbox.utcnow(), force=True)
    assert allocation is not None
    t = Table(title=f"Paid budget per day: ${allocation.total:,.2f}")
    for col in ("arm", "budget", "was", "P(best)", "pipeline/$ (90% interval)", "why"):
        t.add_column(col, justify="left" if col in ("arm", "why") else "right")
    for a in allocation.arms:
        t.add_row(a.name, f"${a.budget:,.2f}", f"${a.previous:,.2f}", f"{a.prob_best:.0%}",
                  f"{a.mean:,.1f} ({a.low:,.1f}–{a.high:,.1f})", escape(a.reason))  # fmt: skip
    console.print(t)
    for note in allocation.notes:
        console.print(f"note: {escape(note)}")


@agent_app.command("explain")
def agent_explain(
    action_id: Annotated[str, typer.Argument(help="An action ID (or its first characters).")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Why the agent decided an action: the signal, the reasons, the expected value and every
    guardrail's verdict."""
    with open_app(workspace, set_) as abm:
        explain(console, inbox.get(abm.app_store, action_id))


@actions_app.command("list")
def actions_list(
    status: Annotated[str, typer.Option(help="pending_approval, queued, sent, dry_run, blocked, "
                                        "rejected, dead, or all.")] = "pending_approval",
    play: Annotated[str | None, typer.Option(help="Only this play.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account ID.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Actions, newest first (by default the ones waiting for approval)."""
    with open_app(workspace, set_) as abm:
        rows = inbox.listing(abm.app_store, status=status, play=play, account=account,
                             limit=limit)  # fmt: skip
    action_table(console, rows, f"Actions ({status})")


@actions_app.command("show")
def actions_show(
    action_id: Annotated[str, typer.Argument(help="An action ID (or its first characters).")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """One action with the exact payload that will leave, and why it was decided."""
    with open_app(workspace, set_) as abm:
        a = inbox.get(abm.app_store, action_id)
    show(console, a)


@actions_app.command("approve")
def actions_approve(
    action_ids: Annotated[list[str], typer.Argument(help="Action IDs to approve.")],
    note: Annotated[str, typer.Option(help="Why (kept with the action).")] = "",
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Approve waiting actions; every guardrail is checked again at the time each will leave."""
    with open_app(workspace, set_) as abm:
        for action_id in action_ids:
            a = inbox.approve(abm.app_store, abm.settings, action_id, note=note)
            console.print(f"{a.id}: queued, leaves from {a.not_before:%Y-%m-%d %H:%M} UTC")


@actions_app.command("reject")
def actions_reject(
    action_ids: Annotated[list[str], typer.Argument(help="Action IDs to reject.")],
    note: Annotated[str, typer.Option(help="Why (kept with the action).")] = "",
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Reject waiting actions: they never leave."""
    with open_app(workspace, set_) as abm:
        for action_id in action_ids:
            a = inbox.reject(abm.app_store, action_id, note=note)
            console.print(f"{a.id}: rejected")


@actions_app.command("edit")
def actions_edit(
    action_id: Annotated[str, typer.Argument(help="The action to edit.")],
    subject: Annotated[str | None, typer.Option(help="E-mail: a new subject.")] = None,
    text: Annotated[Path | None, typer.Option(help="E-mail: a file with the new text.")] = None,
    payload: Annotated[Path | None, typer.Option(help="A JSON file of payload fields to "
                                                 "replace (see `abm actions show`).")] = None,
    note: Annotated[str, typer.Option(help="Why (kept with the action).")] = "",
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Change what a waiting action will send; it still waits for approval."""
    changes: dict = {}
    if payload:
        try:
            changes |= json.loads(payload.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AbmError(f"{payload}: not a JSON object of payload fields: {exc}") from None
    if subject is not None:
        changes["subject"] = subject
    if text is not None:
        changes["text"] = text.read_text(encoding="utf-8")
    if not changes:
        raise AbmError("nothing to change: give --subject, --text or --payload")
    with open_app(workspace, set_) as abm:
        a = inbox.edit(abm.app_store, action_id, changes, note=note)
    show(console, a)


@actions_app.command("send")
def actions_send(
    once: Annotated[bool, typer.Option("--once/--forever", help="One round, or keep polling.")]
    = True,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Run the executor: send queued actions that are due (dry-run connectors write the payload
    under outbox/ instead), retrying with backoff; failures end dead with their reason."""
    from abmkit.act.executor import execute

    with open_app(workspace, set_) as abm:
        report = execute(abm.workspace.path, abm.settings, abm.app_store, once=once)
    console.print(str(report))


class Crm(StrEnum):
    salesforce = "salesforce"
    hubspot = "hubspot"


@crm_app.command("export")
def crm_export(
    to: Annotated[Crm, typer.Argument(help="salesforce (a Bulk API 2.0 update CSV) or hubspot "
                                      "(batch-update JSON bodies).")],
    out: Annotated[Path, typer.Argument(help="File to write.")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Every scored account's tier, priority, scores, stages, topics and reasons, for the
    accounts keyed by that CRM's record id (see docs/connectors.md)."""
    from abmkit.act.writeback import export

    with open_app(workspace, set_) as abm:
        done = export(abm.warehouse, to.value, native=abm.settings.channels.crm.hubspot_native,
                      batch_size=abm.settings.channels.crm.hubspot_batch_size)  # fmt: skip
        abm.app_store.record("crm.export", str(out), "ok", crm=to.value, written=done.written,
                             skipped=done.skipped)  # fmt: skip
    out.write_text(done.text, encoding="utf-8")
    console.print(f"Wrote {done.written:,} accounts to {out}; {done.skipped:,} left out (not "
                  f"keyed by a {to.value} record id).")  # fmt: skip


@crm_app.command("fields")
def crm_fields(
    to: Annotated[Crm, typer.Argument(help="salesforce or hubspot.")],
    out: Annotated[Path, typer.Argument(help="Folder to write the definitions into.")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """The fields to create in the CRM once, before the first export: Salesforce custom-field
    metadata files, or the HubSpot property definitions."""
    from abmkit.act.writeback import fields

    with open_app(workspace, set_) as abm:
        files = fields(to.value, native=abm.settings.channels.crm.hubspot_native)
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    console.print(f"Wrote {len(files)} definition file(s) under {out}.")


# -- rendering ---------------------------------------------------------------------------------
MARKS = {"pass": "[green]pass[/]", "block": "[red]block[/]", "approval": "[yellow]approval[/]",
         "defer": "[cyan]defer[/]", "hold": "[cyan]hold[/]"}  # fmt: skip


def _verdicts(console: Console, verdicts: list[dict]) -> None:
    for v in verdicts:
        mark = MARKS.get(v["outcome"], v["outcome"])
        console.print(f"    {mark} {v['rule']}: {escape(v['reason'])}", highlight=False)


def pass_report(console: Console, r, brief: bool = False) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(r.by_status.items())) or "no actions"
    mode = " (dry run: nothing stored)" if r.dry_run else ""
    held = f"; {r.held_out} held out (randomized holdout)" if r.held_out else ""
    console.print(f"[bold]{r.run_id}[/] at {r.now:%Y-%m-%d %H:%M} UTC{mode}: {r.signals} "
                  f"signals, {r.matches} play matches → {counts}{held}")  # fmt: skip
    if brief:
        return
    for g in r.goals:
        state = "[red]behind[/]" if g.behind else "[green]on pace[/]"
        console.print(f"goal {escape(g.goal)} ({g.metric}): {g.actual:,.0f} of {g.target:,.0f} "
                      f"by {g.period_end:%Y-%m-%d}, pace {g.pace:,.0f} — {state}")  # fmt: skip
    shown = [p for p in r.actions if p.status != "blocked"][:20]
    if shown:
        t = Table(title="Decided (best value first)", show_lines=False)
        for col in ("key", "status", "play", "channel", "account", "who", "at", "value", "cost"):
            t.add_column(col)
        for p in shown:
            c = p.candidate
            t.add_row("act_" + p.key[:20], p.status, c.play, c.channel,
                      escape(p.match.account.name or c.account_id), c.contact_id or "",
                      f"{(p.not_before or c.at):%m-%d %H:%M}", f"${p.value:,.0f}",
                      f"${c.cost:,.2f}")  # fmt: skip
        console.print(t)
    blocked = [p for p in r.actions if p.status == "blocked"]
    if blocked:
        why: dict[str, int] = {}
        for p in blocked:
            for v in p.verdicts:
                if v.outcome == "block":
                    why[v.rule] = why.get(v.rule, 0) + 1
        console.print(f"{len(blocked)} blocked: " +
                      ", ".join(f"{k} {n}" for k, n in sorted(why.items())))  # fmt: skip


def action_table(console: Console, rows: list[Action], title: str) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    t = Table(title=title)
    t.add_column("id", no_wrap=True, min_width=24)  # whole, to copy into approve/explain
    for col in ("status", "play", "channel", "account", "contact", "leaves", "cost", "EV"):
        t.add_column(col)
    for a in rows:
        ev = (a.decision or {}).get("expected_value")
        t.add_row(a.id, a.status, a.play, a.channel, a.account_id, a.contact_id or "",
                  f"{a.not_before:%Y-%m-%d %H:%M}", f"${a.cost:,.2f}",
                  f"${ev:,.0f}" if ev is not None else "")  # fmt: skip
    console.print(t)


def show(console: Console, a: Action) -> None:
    console.print(f"[bold]{a.id}[/] {a.status} · play {a.play} step {a.step} · {a.channel} · "
                  f"account {a.account_id}" + (f" · contact {a.contact_id}" if a.contact_id
                                               else ""))  # fmt: skip
    console.print(f"leaves from {a.not_before:%Y-%m-%d %H:%M} UTC · cost ${a.cost:,.2f} · "
                  f"idempotency key {a.key}")  # fmt: skip
    if a.last_error:
        console.print(f"[red]last error:[/] {escape(a.last_error)}")
    console.print("[bold]Payload (exactly what will leave):[/]")
    payload = dict(a.payload or {})
    if a.channel == "email":
        console.print(f"To: {escape(payload.get('to_name', ''))} <{escape(payload.get('to', ''))}>"
                      f"\nSubject: {escape(payload.get('subject', ''))}\n\n"
                      f"{escape(payload.get('text', ''))}", highlight=False)  # fmt: skip
    else:
        console.print_json(json.dumps(payload, default=str))
    explain(console, a)


def explain(console: Console, a: Action) -> None:
    d = a.decision or {}
    signal = d.get("signal", {})
    console.print(f"[bold]Why {a.id}[/] ({a.status}):")
    console.print(
        f"  signal: {signal.get('kind')} on {signal.get('at')} ({signal.get('ref')}) "
        f"{json.dumps(signal.get('detail', {}), default=str)}",
        highlight=False,
    )
    for reason in d.get("reasons", []):
        console.print(f"  · {escape(reason)}", highlight=False)
    console.print(f"  expected value ${d.get('expected_value', 0):,.2f} = value "
                  f"${d.get('value', 0):,.2f} − cost ${d.get('cost', 0):,.2f}")  # fmt: skip
    console.print("  guardrails when decided:")
    _verdicts(console, d.get("verdicts", []))
    for again in d.get("recheck", []):
        console.print(f"  checked again at {again['at']}"
                      + (f" ({again['on']})" if again.get("on") else "") + ":")  # fmt: skip
        _verdicts(
            console,
            again["verdicts"] or [{"outcome": "pass", "rule": "all", "reason": "every rule holds"}],
        )
    if a.reviewed_by:
        console.print(f"  reviewed by {a.reviewed_by} at {a.reviewed_at:%Y-%m-%d %H:%M}"
                      + (f": {escape(a.review_note)}" if a.review_note else ""))  # fmt: skip
