"""The `abm` command line through Typer's runner, and the installed script as a subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from abmkit.cli import app
from conftest import ABM_BIN, write_csv

runner = CliRunner()
WIDE = {**os.environ, "COLUMNS": "200"}  # rich wraps at 80 columns when not on a terminal

COMMANDS = [[], ["init"], ["ingest"], ["resolve"], ["status"], ["loads"], ["duplicates"],
            ["merge"], ["quarantine"], ["quarantine", "list"], ["quarantine", "export"],
            ["demo"], ["simulate"], ["score"], ["accounts"], ["account"]]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "abm")
def test_help_of_every_command(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.fixture
def ws(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "abmkit.yaml").exists()
    assert "Workspace ready" in result.output
    return tmp_path / "ws"


def _accounts(tmp_path, name="accounts.csv", bad=False):
    rows = [["Acme Corp", "acme.com", "12"], ["Globex", "globex.io", "abc" if bad else "30"]]
    return write_csv(tmp_path / name, ["name", "domain", "employees"], rows)


def test_ingest_prints_a_summary_table(ws, tmp_path):
    f = _accounts(tmp_path, "a.csv")
    result = runner.invoke(app, ["ingest", "accounts", str(f), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "Loaded into accounts" in result.output
    header = next(line for line in result.output.splitlines() if "inserted" in line)
    # columns that are zero for every file (quarantined, skipped, unmatched) are left out
    assert header.replace("┃", " ").split() == [
        "file",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "seconds",
    ]
    line = next(line for line in result.output.splitlines() if "a.csv" in line)
    assert line.replace("│", " ").split()[:5] == ["a.csv", "2", "2", "0", "0"]
    again = runner.invoke(app, ["ingest", "accounts", str(f), "-w", str(ws)])
    line = next(line for line in again.output.splitlines() if "a.csv" in line)
    assert line.replace("│", " ").split()[2:5] == ["0", "0", "2"]


def test_rejected_file_exits_1_with_the_reason(ws, tmp_path):
    f = _accounts(tmp_path, "bad.csv", bad=True)
    result = runner.invoke(app, ["ingest", "accounts", str(f), "-w", str(ws)])
    assert result.exit_code == 1
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "rejected" in out
    assert "row 3" in out and "employees" in out and "abc" in out
    status = runner.invoke(app, ["status", "-w", str(ws)])
    assert "1 rejected" in status.output


def test_quarantine_list_and_export(ws, tmp_path):
    f = _accounts(tmp_path, "bad.csv", bad=True)
    result = runner.invoke(app, ["ingest", "accounts", str(f), "--quarantine", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["quarantine", "list", "-w", str(ws)])
    assert listed.exit_code == 0 and "Quarantine (1)" in listed.output
    out = tmp_path / "q.csv"
    exported = runner.invoke(app, ["quarantine", "export", str(out), "-w", str(ws)])
    assert exported.exit_code == 0, exported.output
    with out.open(newline="", encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["file"], row["row"], row["column_name"]) == (str(f), "3", "employees")
    assert "abc" in row["reason"] and '"abc"' in row["raw"]


def test_status_shows_match_rates(ws, tmp_path):
    runner.invoke(app, ["ingest", "accounts", str(_accounts(tmp_path)), "-w", str(ws)])
    contacts = write_csv(
        tmp_path / "crm_contacts.csv",
        ["contact_id", "email"],
        [["c1", "ann@acme.com"], ["c2", "bo@gmail.com"]],
    )
    assert runner.invoke(app, ["ingest", "contacts", str(contacts), "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["status", "-w", str(ws)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Match rates" in result.output
    line = next(line for line in result.output.splitlines() if "crm_contacts" in line)
    assert "50.0%" in line and "domain 1" in line
    resolved = runner.invoke(app, ["resolve", "-w", str(ws)], terminal_width=200)
    assert resolved.exit_code == 0 and "Re-linked" in resolved.output
    loads = runner.invoke(app, ["loads", "-w", str(ws)], terminal_width=200)
    assert loads.exit_code == 0 and "Loads (2)" in loads.output


def test_set_overrides_a_setting(ws, tmp_path):
    result = runner.invoke(app, ["status", "-w", str(ws), "--set",
                                 "resolve.name_match_threshold=150"])  # fmt: skip
    assert result.exit_code != 0
    assert "resolve.name_match_threshold" in str(result.exception)


def test_bad_config_exits_2_with_one_line_on_stderr(ws):
    (ws / "abmkit.yaml").write_text("resolve:\n  name_match_threshold: lots\n", encoding="utf-8")
    done = subprocess.run([str(ABM_BIN), "status", "-w", str(ws)], capture_output=True,
                          text=True, timeout=120, env=WIDE)  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ")
    assert "resolve.name_match_threshold" in done.stderr
    assert len(lines) == 1, done.stderr


def test_missing_file_exits_1_without_traceback(ws, tmp_path):
    done = subprocess.run(
        [str(ABM_BIN), "ingest", "accounts", str(tmp_path / "nope.csv"), "-w", str(ws)],
        capture_output=True,
        text=True,
        timeout=120,
        env=WIDE,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "file not found" in done.stderr


def test_score_accounts_and_account(ws, tmp_path):
    accounts = _accounts(tmp_path)
    touches = write_csv(tmp_path / "t.csv", ["timestamp", "domain", "kind", "url"],
                        [["2026-05-01T10:00:00Z", "acme.com", "web_visit",
                          "https://seller.example/pricing"]])  # fmt: skip
    for table, path in (("accounts", accounts), ("touches", touches)):
        result = runner.invoke(app, ["ingest", table, str(path), "-w", str(ws)], env=WIDE)
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["score", "-w", str(ws)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Scored 2 accounts as of 2026-05-01 10:00: 2 new" in result.output
    result = runner.invoke(app, ["accounts", "--format", "json", "-w", str(ws)], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["domain"] for r in rows] == ["acme.com", "globex.io"]  # acme visited pricing
    assert rows[0]["intent"] > 0 and rows[1]["intent"] == 0
    result = runner.invoke(app, ["accounts", "--format", "csv", "--search", "glob", "-w",
                                 str(ws)], env=WIDE)  # fmt: skip
    assert result.exit_code == 0 and result.output.count("\n") == 2, result.output
    result = runner.invoke(app, ["account", "https://www.acme.com/", "-w", str(ws)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Why: every score and its reasons" in result.output
    assert "1 key-page visit lately" in result.output
    result = runner.invoke(app, ["account", "nowhere.org", "-w", str(ws)], env=WIDE)
    assert result.exit_code != 0 and "no account with ID or domain" in str(result.exception)
