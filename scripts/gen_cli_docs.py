"""Write docs/cli.md from the real `--help` of every `abm` command and subcommand.

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date

The help is rendered through Typer's test runner at a fixed width with colours off, so the
output is the same on every machine; `tests/test_docs.py` fails when docs/cli.md is stale.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

WIDTH = 100
REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "docs" / "cli.md"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HELP_ENV = {
    "COLUMNS": str(WIDTH),
    "TERMINAL_WIDTH": str(WIDTH),
    "NO_COLOR": "1",
    "_TYPER_FORCE_DISABLE_TERMINAL": "1",
    "FORCE_COLOR": "",
    "GITHUB_ACTIONS": "",
}

HEADER = """\
# `abm` command reference

Generated from the real `--help` of every command by `scripts/gen_cli_docs.py`; do not edit by
hand. After changing a command, run `python scripts/gen_cli_docs.py` (a test fails otherwise).

Every command that works on a workspace takes `--workspace/-w` (default: the current folder) and
`--set KEY=VALUE` to override one setting for that run (see the settings note in the README).
"""


@contextlib.contextmanager
def fixed_terminal() -> Iterator[None]:
    """Typer reads its width and colour switches when it is imported; pin them for this run."""
    import typer.rich_utils as ru

    saved = (ru.MAX_WIDTH, ru.FORCE_TERMINAL, ru.COLOR_SYSTEM)
    ru.MAX_WIDTH, ru.FORCE_TERMINAL, ru.COLOR_SYSTEM = WIDTH, False, None
    try:
        yield
    finally:
        ru.MAX_WIDTH, ru.FORCE_TERMINAL, ru.COLOR_SYSTEM = saved


def command_paths() -> list[list[str]]:
    """Every command path, depth first in the order `--help` lists them: [], [init], ..."""

    def walk(cmd, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():  # groups keep definition order
            yield from walk(sub, [*path, name])

    return list(walk(root_command(), []))


def root_command():
    """The `abm` command tree as Typer builds it (a group with `.commands` and `.params`)."""
    import typer.main

    from abmkit.cli import app

    return typer.main.get_command(app)


def help_text(path: list[str]) -> str:
    from typer.testing import CliRunner

    from abmkit.cli import app

    with fixed_terminal():
        result = CliRunner().invoke(app, [*path, "--help"], prog_name="abm", env=HELP_ENV)
    if result.exit_code != 0:
        raise RuntimeError(f"abm {' '.join(path)} --help failed: {result.output}")
    lines = [line.rstrip() for line in ANSI.sub("", result.output).splitlines()]
    return "\n".join(lines).strip("\n")


def render() -> str:
    parts = [HEADER]
    for path in command_paths():
        title = " ".join(["abm", *path])
        parts.append(f"## `{title}`\n\n```text\n{help_text(path)}\n```\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run `python scripts/gen_cli_docs.py`")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    os.environ.update(HELP_ENV)  # before Typer is imported, so its module settings agree
    sys.exit(main(sys.argv[1:]))
