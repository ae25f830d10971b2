"""The `abm` command line: parse, call one service, render. No business logic here."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.markup import escape

from abmkit.cli import render
from abmkit.cli.agent import actions_app, agent_app, crm_app
from abmkit.cli.common import SetOpt, WorkspaceOpt, open_app, overrides
from abmkit.cli.measure import holdout_app, lift_command
from abmkit.cli.report import attribution_command, report_command
from abmkit.cli.server import keys_app, serve_command, users_app
from abmkit.cli.server import serve as serve_app
from abmkit.config.workspace import init_workspace
from abmkit.errors import AbmError, InputError

app = typer.Typer(
    help="abmkit: open-source account-based marketing on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(
    help="List and export rows that loads set aside.", no_args_is_help=True
)
app.add_typer(quarantine_app, name="quarantine")
model_app = typer.Typer(
    help="Propensity models: train, list, report, activate (rollback).", no_args_is_help=True
)
app.add_typer(model_app, name="model")
plays_app = typer.Typer(
    help="Plays: the built-in library and the workspace's own (list, validate, copy).",
    no_args_is_help=True,
)
app.add_typer(plays_app, name="plays")
app.add_typer(agent_app, name="agent")
app.add_typer(actions_app, name="actions")
app.add_typer(crm_app, name="crm")
app.command("report")(report_command)
app.command("attribution")(attribution_command)
app.add_typer(holdout_app, name="holdout")
app.command("lift")(lift_command)
app.command("serve")(serve_command)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)


class Table(StrEnum):
    accounts = "accounts"
    contacts = "contacts"
    opportunities = "opportunities"
    touches = "touches"
    intent = "intent"
    campaigns = "campaigns"
    ip_ranges = "ip_ranges"


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing abmkit.yaml.")] = False,
) -> None:
    """Create a workspace: a folder with a documented abmkit.yaml."""
    ws = init_workspace(directory, force=force)
    console.print(f"Workspace ready: [bold]{ws.config_file}[/] (warehouse: {ws.warehouse_url})")


@app.command()
def ingest(
    table: Annotated[Table, typer.Argument(help="Canonical table to load into.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON Lines files.")],
    preset: Annotated[str | None, typer.Option(help="salesforce, hubspot, bombora, or a "
                                               "mapping named under ingest.mappings.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="YAML column-mapping file.")] = None,
    quarantine: Annotated[bool, typer.Option(help="Load good rows; keep bad rows, with "
                                             "reasons, in the quarantine table.")] = False,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Load files into a canonical table: validated, atomic per file, idempotent."""
    with open_app(workspace, set_) as abm, render.stage_progress(console) as progress:
        results = abm.ingest(table.value, files, preset=preset, mapping=mapping,
                             quarantine=quarantine, progress=progress)  # fmt: skip
    render.load_summary(console, err, results)
    if any(isinstance(r, InputError) for r in results):
        raise typer.Exit(1)


@app.command()
def resolve(workspace: WorkspaceOpt = Path("."), set_: SetOpt = None) -> None:
    """Re-link contacts, touches, intent and opportunities to accounts (after late loads)."""
    with open_app(workspace, set_) as abm:
        render.relink(console, abm.relink())
        render.match_rates(console, abm.status().match_rates)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def score(
    as_of: Annotated[datetime | None, typer.Option(help="Score as of this moment (default: the "
                                                   "latest data in the warehouse).")] = None,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Re-score only the accounts touched by data loaded since the last "
        "refresh (falls back to a full refresh when settings, the model or identity links "
        "changed).")] = False,
    replay_weeks: Annotated[int, typer.Option(
        "--replay-weeks", min=0, help="First score as of each of this many weeks before the "
        "latest data (oldest first), recording the stage history weekly refreshes would have: "
        "for data that arrived all at once.")] = 0,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Refresh fit, intent, engagement, stages, priority and tiers of every account."""
    if replay_weeks and (as_of or incremental):
        raise AbmError("--replay-weeks scores up to the latest data: leave out --as-of and "
                       "--incremental")  # fmt: skip
    with open_app(workspace, set_) as abm:
        if replay_weeks:
            result = abm.replay(replay_weeks)
        else:
            result = abm.score(as_of, incremental=incremental)
        render.score_summary(console, result, abm.accounts(limit=None))


@app.command()
def accounts(
    tier: Annotated[int | None, typer.Option(help="Only this tier (1, 2 or 3).")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this buying or journey stage, e.g. "
                                              "decision, mqa.")] = None,
    sales_ready: Annotated[bool | None, typer.Option("--sales-ready/--not-sales-ready",
                                                     help="Only sales-ready accounts (or only "
                                                     "the others).")] = None,
    search: Annotated[str | None, typer.Option(help="Name or domain contains this.")] = None,
    cluster: Annotated[int | None, typer.Option(help="Only this Tier 2 cluster.")] = None,
    sort: Annotated[str, typer.Option(help="priority, fit, intent, engagement or name.")] = (
        "priority"),
    limit: Annotated[int, typer.Option(help="How many rows (0: all).")] = 25,
    format_: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = (
        Format.table),
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Scored accounts, best first, with their tier, scores and stages."""
    with open_app(workspace, set_) as abm:
        rows = abm.accounts(tier=tier, stage=stage, sales_ready=sales_ready, search=search,
                            cluster=cluster, sort=sort, limit=limit or None)  # fmt: skip
    render.rows_as(console, rows, format_.value, title="Accounts")


@app.command()
def account(
    key: Annotated[str, typer.Argument(help="Account ID, domain or URL.")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """One account on one screen: firmographics, every score with its reasons, stages and their
    history, tier, buying committee, intent topics, recent touches, opportunities."""
    with open_app(workspace, set_) as abm:
        render.account(console, abm.account(key))


@model_app.command("train")
def model_train(
    activate: Annotated[bool, typer.Option(help="Make the new model the active one.")] = True,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Train on earlier snapshots, back-test on the latest full window, register the model."""
    with open_app(workspace, set_) as abm, console.status("training and back-testing…"):
        result = abm.train_model(activate=activate)
    render.model_report(console, result.model)
    if activate:
        console.print("Active now; `abm score` uses it. Roll back with `abm model activate`.")


@model_app.command("list")
def model_list(workspace: WorkspaceOpt = Path("."), set_: SetOpt = None) -> None:
    """Every registered model with its window and back-test figures; * marks the active one."""
    with open_app(workspace, set_) as abm:
        render.model_list(console, abm.models())


@model_app.command("report")
def model_report(
    version: Annotated[str | None, typer.Argument(help="Version (default: the active one).")] = (
        None),
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """The back-test of a model: AUC, PR-AUC, top-decile lift, calibration, by tier."""
    with open_app(workspace, set_) as abm:
        render.model_report(console, abm.model(version))


@model_app.command("activate")
def model_activate(
    version: Annotated[str, typer.Argument(help="Version to make active.")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Make a model the active one (roll back to an older one); then run `abm score`."""
    with open_app(workspace, set_) as abm:
        chosen = abm.activate_model(version)
    console.print(f"Model {chosen.version} is active. Run `abm score` to re-score with it.")


@plays_app.command("list")
def plays_list(workspace: WorkspaceOpt = Path("."), set_: SetOpt = None) -> None:
    """Every play: trigger, audience, steps, and where it comes from."""
    with open_app(workspace, set_) as abm:
        render.plays(console, abm.plays())


@plays_app.command("validate")
def plays_validate(workspace: WorkspaceOpt = Path("."), set_: SetOpt = None) -> None:
    """Check every play file of the workspace (exit non-zero, naming the file and the field,
    when one is wrong)."""
    with open_app(workspace, set_) as abm:
        plays = abm.plays()
    own = sum(1 for _, source in plays.values() if source != "built-in")
    console.print(f"{len(plays)} plays valid ({own} from the workspace's plays/ folder).")


@plays_app.command("copy")
def plays_copy(
    name: Annotated[str, typer.Argument(help="A built-in play (see `abm plays list`).")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Copy a built-in play into the workspace's plays/ folder, to edit it there."""
    with open_app(workspace, set_) as abm:
        path = abm.copy_play(name)
    console.print(f"Copied to {path}; edit it, then `abm plays validate`.")


@app.command()
def status(workspace: WorkspaceOpt = Path("."), set_: SetOpt = None) -> None:
    """Rows per table, match rates per source, loads and quarantine."""
    with open_app(workspace, set_) as abm:
        render.status(console, abm.status())


@app.command()
def loads(
    limit: Annotated[int, typer.Option(help="How many of the latest loads.")] = 20,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """The record of recent loads: file, checksum, rows, outcome."""
    with open_app(workspace, set_) as abm:
        render.arrow_table(console, abm.loads(limit), title="Loads")


@app.command()
def audit(
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. ingest, merge.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many of the latest events.")] = 50,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """The audit log: every ingest, resolve and merge, who ran it and how it ended."""
    with open_app(workspace, set_) as abm:
        render.audit(console, abm.audit(action, limit))


@app.command()
def duplicates(workspace: WorkspaceOpt = Path("."), set_: SetOpt = None) -> None:
    """Likely duplicate accounts (same domain, or names at or above resolve.duplicate_threshold)."""
    with open_app(workspace, set_) as abm:
        render.duplicates(console, abm.duplicates())


@app.command()
def merge(
    source_id: Annotated[str, typer.Argument(help="Account to merge away.")],
    into_id: Annotated[str, typer.Argument(help="Account that survives.")],
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Merge one account into another, keeping every touch, contact and custom attribute."""
    with open_app(workspace, set_) as abm:
        abm.merge(source_id, into_id)
    console.print(f"Merged {source_id} into {into_id}.")


@quarantine_app.command("list")
def quarantine_list(
    table: Annotated[Table | None, typer.Option(help="Only this table.")] = None,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Show quarantined rows with file, row, column and reason."""
    with open_app(workspace, set_) as abm:
        rows = abm.quarantine(table.value if table else None)
    render.arrow_table(console, rows.drop_columns(["raw"]), title="Quarantine")


@quarantine_app.command("export")
def quarantine_export(
    out: Annotated[Path, typer.Argument(help="CSV file to write.")],
    table: Annotated[Table | None, typer.Option(help="Only this table.")] = None,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Write quarantined rows (with the original values) to a CSV file for fixing."""
    with open_app(workspace, set_) as abm:
        rows = abm.quarantine(table.value if table else None)
    pacsv.write_csv(rows, out)
    console.print(f"Wrote {rows.num_rows} quarantined problems to {out}")


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(help="Companies in the simulated market.")] = 5000,
    months: Annotated[int, typer.Option(help="Months of history to simulate.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same market.")] = 7,
    serve: Annotated[bool, typer.Option(
        help="Serve the web UI and the API on the demo workspace afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    workspace: WorkspaceOpt = Path(".abm-demo"),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Simulate a B2B market, ingest it through the real path, resolve, score, run the agent,
    write the report — then serve the web UI on it (sign-in printed)."""
    from abmkit.demo import demo_login, run_demo

    with render.stage_progress(console) as progress:
        summary = run_demo(workspace, accounts=accounts, months=months, seed=seed,
                           overrides=overrides(set_), progress=progress)  # fmt: skip
    render.demo_summary(console, summary)
    if serve:
        email, password = demo_login(workspace)
        console.print(f"7. Web UI: open http://{host}:{port}/ and sign in as {email} with "
                      f"password {password}", highlight=False, soft_wrap=True)  # fmt: skip
        serve_app(workspace, overrides(set_), host, port)


class Policy(StrEnum):
    agent = "agent"
    rules = "rules"
    static = "static"


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Argument(help="Folder to write the market's files into "
                                               "(without --policy).")] = None,
    accounts: Annotated[int, typer.Option(help="Companies in the market.")] = 5000,
    months: Annotated[int, typer.Option(help="Months of history.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed (the first, with --seeds).")] = 7,
    touch_scale: Annotated[float, typer.Option(help="Multiply activity volume.")] = 1.0,
    policy: Annotated[list[Policy] | None, typer.Option(
        help="Rehearse a policy in closed loop on the market instead (repeatable): agent, "
        "rules (a weekly program) or static.")] = None,
    days: Annotated[int, typer.Option(help="Days to rehearse.")] = 90,
    seeds: Annotated[int, typer.Option(help="Rehearse on this many markets (seed, seed+1…).")]
    = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures "
                                                  "as JSON here.")] = None,
) -> None:  # fmt: skip
    """Write a simulated market as the files a user would bring (truth kept apart in truth/),
    or with --policy rehearse policies on simulated markets and compare them."""
    from abmkit.simulate import MarketConfig, simulate_market

    if policy:
        from abmkit.decide.rehearsal import compare, rehearse

        with render.stage_progress(console) as progress:
            results = rehearse([p.value for p in policy], list(range(seed, seed + seeds)),
                               days=days, accounts=accounts, months=months,
                               progress=progress)  # fmt: skip
        summary = compare(results)
        render.rehearsal(console, summary)
        if json_out:
            json_out.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        return
    if out is None:
        raise AbmError("give a folder to write the market into, or --policy to rehearse")
    cfg = MarketConfig(accounts=accounts, months=months, seed=seed, touch_scale=touch_scale)
    with render.stage_progress(console) as progress:
        manifest = simulate_market(cfg, out, progress=progress)
    render.manifest(console, manifest)


def main() -> None:
    """Entry point: user mistakes print one clear message and exit non-zero, no traceback."""
    try:
        app()
    except AbmError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
