"""`abm holdout …` (randomized holdouts: assign, list, reset) and `abm lift` (treated against
holdout per scope, with intervals). Parse, call `abmkit.measure`, render."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from abmkit.cli.common import SetOpt, WorkspaceOpt, open_app
from abmkit.cli.report import OutFormat, print_lift, records, write_csv
from abmkit.errors import AbmError
from abmkit.measure import holdout

holdout_app = typer.Typer(
    help="Randomized holdouts: assign target accounts, list the groups, reset a scope.",
    no_args_is_help=True,
)
console = Console()

ScopeOpt = Annotated[
    str | None, typer.Option("--scope", help="One scope, e.g. tier:1 or play:key-page-visit-sdr.")
]


@holdout_app.command("assign")
def holdout_assign(
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", help="Record the assignments at this moment (UTC); default: now.")] = None,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Record the group of every current target account not assigned yet (the agent does this
    at the start of each pass); recorded groups never change."""
    from abmkit.store.db import utcnow

    with open_app(workspace, set_) as abm:
        new = holdout.assign(abm, as_of or utcnow())
        summaries = holdout.listing(abm)
    held = sum(a.group == holdout.HOLDOUT for a in new)
    console.print(f"Recorded {len(new):,} new assignment(s), {held:,} held out.")
    scope_table(summaries)


@holdout_app.command("list")
def holdout_list(scope: ScopeOpt = None, workspace: WorkspaceOpt = Path("."),
                 set_: SetOpt = None) -> None:  # fmt: skip
    """Accounts per scope and group, with the share and salt they were drawn with and when."""
    with open_app(workspace, set_) as abm:
        summaries = holdout.listing(abm, scope)
    scope_table(summaries)


@holdout_app.command("reset")
def holdout_reset(
    scope: Annotated[str, typer.Argument(help="The scope to start afresh, e.g. tier:2.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really delete its assignments.")] = False,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Delete a scope's assignments (audited); the next pass or `abm holdout assign` draws them
    again with the current settings. The lift measured in that scope so far is lost."""
    with open_app(workspace, set_) as abm:
        found = holdout.listing(abm, scope)
        if found and not yes:
            s = found[0]
            raise AbmError(f"reset would delete {s.treated + s.holdout:,} assignments of scope "
                           f"{scope} ({s.holdout:,} held out since "
                           f"{s.first_assigned:%Y-%m-%d}); add --yes to do it")  # fmt: skip
        deleted = holdout.reset(abm, scope)
    console.print(f"Deleted {deleted:,} assignments of scope {scope}.")


def lift_command(
    scope: ScopeOpt = None,
    since: Annotated[dt.datetime | None, typer.Option(
        help="Count opportunities created from this day (and never before an account's "
        "assignment).")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="table, csv or json.")]
    = OutFormat.table,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Lift against the randomized holdouts: opportunity rate and pipeline per account of
    treated and held-out accounts per scope, the difference with its interval, and whether the
    sample is large enough to judge."""
    from abmkit.measure.lift import lift

    with open_app(workspace, set_) as abm:
        frame = lift(abm, scope=scope, since=since.date() if since else None)
        confidence = abm.settings.measure.holdout.confidence
    if fmt == OutFormat.csv:
        write_csv(frame)
    elif fmt == OutFormat.json:
        sys.stdout.write(json.dumps(records(frame), indent=1) + "\n")
    elif frame.empty:
        console.print("No holdout assignments recorded yet: nothing to measure.")
    else:
        print_lift(frame, confidence)


# -- rendering ---------------------------------------------------------------------------------
def scope_table(summaries: list[holdout.ScopeSummary]) -> None:
    if not summaries:
        console.print("No holdout assignments recorded yet.")
        return
    t = Table(title="Holdout assignments")
    for col in ("scope", "treated", "holdout", "share", "salt", "first assigned", "last assigned"):
        t.add_column(col, justify="right" if col in ("treated", "holdout", "share") else "left")
    for s in summaries:
        t.add_row(s.scope, f"{s.treated:,}", f"{s.holdout:,}", f"{s.share:g}", escape(s.salt),
                  f"{s.first_assigned:%Y-%m-%d %H:%M}",
                  f"{s.last_assigned:%Y-%m-%d %H:%M}")  # fmt: skip
    console.print(t)
