"""Attribution over aggregated paths: hand-computed cases for every model, properties (credit
sums to what is attributed, a one-channel path gives that channel everything, relabelling the
channels relabels the credit), the exact Markov removal effect against a hand-solved chain, and
the path file's errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abmkit.errors import InputError
from abmkit.measure.attribution import (
    MODELS,
    Paths,
    attribute,
    conversion_probability,
    read_paths,
    transitions,
)


def credit(rows, model):
    found = attribute(Paths.of(rows), model)
    return {c: round(float(v), 9) for c, v in zip(found.channels, found.conversions, strict=True)}


def test_first_last_and_linear_by_hand():
    rows = [(["a", "b", "a"], 3, 30, 0), (["b"], 1, 10, 2)]
    assert credit(rows, "first") == {"a": 3, "b": 1}
    assert credit(rows, "last") == {"a": 3, "b": 1}
    assert credit(rows, "linear") == {"a": 2, "b": 2}  # a touched twice: two shares of three


def test_u_and_w_shaped_by_hand():
    five = [(["a", "b", "c", "d", "e"], 10, 100, 0)]
    assert credit(five, "u_shaped") == pytest.approx({"a": 4, "b": 2 / 3, "c": 2 / 3, "d": 2 / 3,
                                                      "e": 4})  # fmt: skip
    # W: 30% first, 30% the middle touch (c), 30% last, 10% over b and d
    assert credit(five, "w_shaped") == {"a": 3, "b": 0.5, "c": 3, "d": 0.5, "e": 3}
    assert credit([(["a", "b"], 2, 0, 0)], "u_shaped") == {"a": 1, "b": 1}
    assert credit([(["a", "b"], 2, 0, 0)], "w_shaped") == {"a": 1, "b": 1}


def test_markov_removal_effects_solve_the_chain_exactly():
    # start → a (3 journeys) or b (1); a → b once, a → conversion twice; b → conversion once,
    # b → null once. P(conv) = 3/4·(2/3 + 1/3·1/2) + 1/4·1/2 = 3/4·5/6 + 1/8 = 0.75
    rows = [(["a"], 2, 20, 0), (["a", "b"], 0, 0, 1), (["b"], 1, 10, 0)]
    start, between, ends = transitions(Paths.of(rows))
    assert conversion_probability(start, between, ends) == pytest.approx(0.75)
    # without a: only the journeys starting at b convert, half of them: 1/4 · 1/2
    assert conversion_probability(start, between, ends, removed=0) == pytest.approx(0.125)
    # without b: a converts 2/3 of the time: 3/4 · 2/3
    assert conversion_probability(start, between, ends, removed=1) == pytest.approx(0.5)
    found = attribute(Paths.of(rows), "markov")
    effects = {"a": 1 - 0.125 / 0.75, "b": 1 - 0.5 / 0.75}
    assert found.removal_effect == pytest.approx([effects["a"], effects["b"]])
    share_a = effects["a"] / (effects["a"] + effects["b"])
    assert found.conversions == pytest.approx([3 * share_a, 3 * (1 - share_a)])
    assert found.value == pytest.approx([30 * share_a, 30 * (1 - share_a)])


journeys = st.lists(
    st.tuples(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=7),
              st.integers(0, 20), st.integers(0, 500), st.integers(0, 20)),
    min_size=1, max_size=25,
).filter(lambda rows: sum(r[1] for r in rows) > 0)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(rows=journeys, model=st.sampled_from(MODELS))
def test_credit_adds_up_to_what_was_attributed(rows, model):
    found = attribute(Paths.of(rows), model)
    assert found.conversions.sum() == pytest.approx(sum(r[1] for r in rows))
    assert found.value.sum() == pytest.approx(sum(r[2] for r in rows))
    assert (found.conversions >= -1e-9).all()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), conv=st.integers(1, 50), value=st.integers(0, 900),
       nulls=st.integers(0, 50), model=st.sampled_from(MODELS))  # fmt: skip
def test_a_one_channel_path_gives_that_channel_everything(n, conv, value, nulls, model):
    found = attribute(Paths.of([(["x"] * n, conv, value, nulls)]), model)
    assert found.conversions == pytest.approx([conv]) and found.value == pytest.approx([value])


@settings(max_examples=60, deadline=None)
@given(rows=journeys, model=st.sampled_from(MODELS),
       names=st.permutations(["p", "q", "r", "s", "t", "u"]))  # fmt: skip
def test_relabelling_the_channels_relabels_the_credit(rows, model, names):
    rename = dict(zip("abcdef", names, strict=True))
    before = attribute(Paths.of(rows), model)
    after = attribute(Paths.of([([rename[c] for c in p], *rest) for p, *rest in rows]), model)
    b = dict(zip(before.channels, before.conversions, strict=True))
    a = dict(zip(after.channels, after.conversions, strict=True))
    assert {rename[c]: v for c, v in b.items()} == pytest.approx(a)


def test_the_path_file_is_read_and_its_errors_name_row_and_column(tmp_path):
    good = tmp_path / "paths.csv"
    good.write_text("path;total_conversions;total_conversion_value;total_null\n"
                    "eta > iota > alpha;2;10.5;3\nalpha;1;5;0\n", encoding="utf-8")  # fmt: skip
    paths = read_paths(good)
    assert paths.channels == ("eta", "iota", "alpha")
    assert paths.conversions.tolist() == [2, 1] and paths.nulls.tolist() == [3, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("path;total_conversions;total_conversion_value;total_null\n"
                   "a > > b;1;2;0\nc;x;2;0\nd;1;-2;0\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError) as caught:
        read_paths(bad)
    text = str(caught.value)
    assert "row 2, column 'path'" in text and "row 3, column 'total_conversions'" in text
    assert "row 4, column 'total_conversion_value'" in text
    headless = tmp_path / "headless.csv"
    headless.write_text("a > b;1;2;0\n", encoding="utf-8")
    with pytest.raises(InputError, match="header lacks"):
        read_paths(headless)


def test_the_cli_reads_a_path_file_without_a_workspace(tmp_path):
    from typer.testing import CliRunner

    from abmkit.cli import app

    file = tmp_path / "paths.csv"
    file.write_text("path;total_conversions;total_conversion_value;total_null\n"
                    "a > b;2;10;1\nb;1;4;5\n", encoding="utf-8")  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(app, ["attribution", "--paths", str(file), "--model", "first",
                              "--model", "markov", "--format", "json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    first = {r["channel"]: r["conversions"] for r in rows if r["model"] == "first"}
    assert first == {"a": 2, "b": 1}
    markov = [r for r in rows if r["model"] == "markov"]
    assert sum(r["conversions"] for r in markov) == pytest.approx(3)
    assert all("removal_effect" in r for r in markov)
    as_csv = runner.invoke(app, ["attribution", "--paths", str(file), "--model", "last",
                                 "--format", "csv"])  # fmt: skip
    assert as_csv.output.splitlines()[0] == '"model","channel","conversions","value"'
    missing = runner.invoke(app, ["attribution", "--paths", str(tmp_path / "none.csv")])
    assert missing.exit_code != 0 and "cannot be read" in str(missing.exception)
