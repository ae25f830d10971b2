"""Docs that are checked: the CLI reference is current, the README opens with the two commands,
every `abm ...` line in the README and the user guides names a real command and real options, and
the mapping examples in docs/ingest.md are valid mappings."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

from abmkit.ingest.mapping import mapping_from_dict

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDES = [REPO / "docs" / name for name in ("ingest.md", "identity.md", "architecture.md")]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts/gen_cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text(encoding="utf-8"))


def abm_lines(path: Path) -> list[str]:
    """Shell lines in code blocks that run `abm` (continuations joined, prompts dropped)."""
    found = []
    for block in code_blocks(path):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if re.match(r"^(\S*/)?abm\s", line):
                found.append(line.split(" #")[0].strip())
    return found


def test_cli_reference_is_current():
    gen = _generator()
    expected = gen.render()
    current = gen.TARGET.read_text(encoding="utf-8") if gen.TARGET.exists() else ""
    assert current == expected, "docs/cli.md is stale: run `python scripts/gen_cli_docs.py`"


def test_cli_reference_covers_every_command():
    gen = _generator()
    text = gen.TARGET.read_text(encoding="utf-8")
    for path in gen.command_paths():
        assert f"## `{' '.join(['abm', *path])}`" in text


def test_readme_opens_with_make_demo_then_make_test():
    text = README.read_text(encoding="utf-8")
    first_section = re.split(r"^## ", text, maxsplit=2, flags=re.MULTILINE)
    top = first_section[0] + (first_section[1] if len(first_section) > 1 else "")
    first_block = code_blocks(README)[0]
    assert "make demo" in first_block and "make test" in first_block, (
        "the README's first code block must show `make demo` and `make test`"
    )
    assert first_block.index("make demo") < first_block.index("make test")
    assert first_block in top, "the two commands must come before the other sections"


def _check_line(line: str) -> str | None:
    """Why `line` does not match the CLI, or None when it does."""
    words = shlex.split(line)[1:]
    cmd, path = _generator().root_command(), []
    while words and hasattr(cmd, "commands") and not words[0].startswith("-"):
        name = words.pop(0)
        if name not in cmd.commands:
            return f"no command `abm {' '.join([*path, name])}`"
        cmd, path = cmd.commands[name], [*path, name]
    if hasattr(cmd, "commands"):
        return f"`abm {' '.join(path)}` needs a subcommand"
    options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
    options.add("--help")
    for word in words:
        option = word.split("=")[0]
        if option.startswith("-") and option not in options:
            return f"`abm {' '.join(path)}` has no option {option}"
    return None


@pytest.mark.parametrize("doc", [README, *GUIDES], ids=lambda p: p.name)
def test_abm_commands_in_docs_exist(doc: Path):
    if not doc.exists():
        pytest.fail(f"{doc.relative_to(REPO)} is missing")
    problems = [f"{line!r}: {why}" for line in abm_lines(doc) if (why := _check_line(line))]
    assert not problems, f"{doc.name} shows commands the CLI does not have:\n" + "\n".join(problems)


def test_readme_shows_commands():
    assert abm_lines(README), "the README shows no `abm` command lines at all"


def test_mapping_examples_in_ingest_guide_are_valid():
    blocks = [b for b in code_blocks(REPO / "docs" / "ingest.md") if "columns:" in b]
    assert blocks, "docs/ingest.md has no mapping example"
    for block in blocks:
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "mappings" in data.get("ingest", {}):
            for name, body in data["ingest"]["mappings"].items():
                mapping_from_dict(body, f"docs/ingest.md ingest.mappings.{name}")
        else:
            mapping_from_dict(data, "docs/ingest.md")


@pytest.mark.realdata
def test_maven_mapping_examples_load(tmp_path: Path):
    """The two Maven mapping examples in docs/ingest.md load the real Maven files."""
    from typer.testing import CliRunner

    from abmkit.cli import app

    data = REPO.parent / "shared" / "data" / "maven_crm"
    if not data.exists():
        pytest.skip(f"{data} is absent")
    examples = {}
    for block in code_blocks(REPO / "docs" / "ingest.md"):
        parsed = yaml.safe_load(block) if "columns:" in block else None
        if isinstance(parsed, dict) and parsed.get("table"):
            examples[parsed["table"]] = block
    files = {"accounts": "accounts.csv", "opportunities": "sales_pipeline.csv"}
    assert set(files) <= set(examples), "docs/ingest.md lost a Maven mapping example"
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    for table, name in files.items():
        mapping = tmp_path / f"{table}.yaml"
        mapping.write_text(examples[table], encoding="utf-8")
        args = ["ingest", table, str(data / name), "--mapping", str(mapping), "-w", str(ws)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output


def test_maven_examples_in_ingest_guide_match_the_example_files():
    shown = {}
    for block in code_blocks(REPO / "docs" / "ingest.md"):
        parsed = yaml.safe_load(block) if "columns:" in block else None
        if isinstance(parsed, dict) and parsed.get("table"):
            shown[parsed["table"]] = parsed
    for table, name in (("accounts", "accounts.yaml"), ("opportunities", "pipeline.yaml")):
        path = REPO / "examples" / "maven_crm" / name
        if not path.exists():
            pytest.skip(f"{path.relative_to(REPO)} is absent")
        expected = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert shown.get(table) == expected, f"docs/ingest.md differs from {path.name}"
