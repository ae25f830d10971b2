"""Budget allocation by a Thompson-sampling bandit: the invariants hold for any arms, budgets
and settings (hypothesis), and the bandit learns, pauses, explores and explains itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from abmkit.decide.budget import (
    Arm,
    BudgetSettings,
    allocate,
    due,
    pause_reason,
    posterior,
)
from abmkit.errors import GuardrailError

DOC = Path(__file__).resolve().parents[1] / "docs" / "budget.md"
NAMES = ["linkedin_t1", "linkedin_t2", "google_t2", "meta_t3", "mail_t1", "google_c4"]


def cents(dollars: float) -> int:
    return round(dollars * 100)


# --- the invariants, for any arms, budgets and settings -----------------------------------


@st.composite
def arms_(draw) -> list[Arm]:
    arms = []
    for name in NAMES[: draw(st.integers(1, len(NAMES)))]:
        results = draw(st.integers(0, 30))
        pipeline = draw(st.floats(0, 2e6)) if results else 0.0
        arms.append(Arm(name, draw(st.floats(0, 60_000)), pipeline, results,
                        paused=draw(st.integers(0, 5)) == 0))  # fmt: skip
    return arms


@st.composite
def settings_(draw) -> BudgetSettings:
    floor = draw(st.one_of(
        st.floats(0, 0.4),
        st.dictionaries(st.sampled_from([*NAMES, "*"]), st.floats(0, 0.6), max_size=4),
    ))  # fmt: skip
    return BudgetSettings(
        floor_share=floor,
        max_change=draw(st.floats(0, 1)),
        step=draw(st.floats(0.05, 1)),
        pause_after_cost_multiple=draw(st.floats(0.5, 6)),
        target_cost_per_result=draw(st.floats(100, 10_000)),
        samples=200,
    )


@st.composite
def cycles(draw) -> tuple[list[Arm], dict[str, float], float, BudgetSettings]:
    arms = draw(arms_())
    current = {arm.name: draw(st.integers(0, 2_000_000)) / 100
               for arm in arms if draw(st.booleans())}  # fmt: skip
    same_total = current and draw(st.booleans())
    total = sum(current.values()) if same_total else draw(st.integers(0, 5_000_000)) / 100
    return arms, current, round(total, 2), draw(settings_())


def expected_floors(arms, active, settings, total_c) -> np.ndarray:
    shares = np.array([settings.floor_for(arm.name) if on else 0.0
                       for arm, on in zip(arms, active, strict=True)])  # fmt: skip
    return np.floor(shares / max(1.0, shares.sum()) * total_c + 1e-6)


@given(cycles(), st.integers(0, 2**32 - 1))
def test_the_split_keeps_every_rule(cycle, seed):
    arms, current, total, settings = cycle
    active = np.array([pause_reason(arm, settings) is None for arm in arms])
    if total > 0 and not active.any():
        with pytest.raises(GuardrailError, match="every arm is paused"):
            allocate(arms, current, total, settings, rng=seed)
        return
    result = allocate(arms, current, total, settings, rng=seed)
    new = np.array([cents(arm.budget) for arm in result.arms])
    ref = np.array([cents(arm.reference) for arm in result.arms])
    total_c, change = cents(total), math.floor(settings.max_change * cents(total) + 1e-9)

    assert new.sum() == total_c  # the total, to the cent
    assert (new >= 0).all()
    assert (new[~active] == 0).all()  # paused arms, even with a floor
    assert all(arm.paused == (not on) for arm, on in zip(result.arms, active, strict=True))
    # the maximum change counts from the current budgets carried to the new total
    assert ref.sum() == total_c and (ref[~active] == 0).all()
    old = np.array([current.get(arm.name, 0.0) for arm in arms]) * active
    share = old / old.sum() if old.sum() > 0 else active / max(1, active.sum())
    assert np.abs(ref - share * total_c).max(initial=0) <= 1
    assert (np.abs(new - ref)[active] <= change).all()
    floors = expected_floors(arms, active, settings, total_c)
    for i in np.flatnonzero(active & (new < floors)):  # a floor the maximum change forbids
        assert new[i] >= ref[i]  # moves toward it ...
        could_give = new - np.maximum.reduce([np.zeros_like(ref), ref - change, floors])
        assert new[i] == ref[i] + change or (could_give[active] <= len(arms)).all()  # ... by all
        assert "floor" in result.arms[i].reason and "maximum change" in result.arms[i].reason
    assert all(arm.reason for arm in result.arms)
    assert allocate(arms, current, total, settings, rng=seed) == result  # same seed, same split


@given(arms_(), st.integers(1, 5_000_000), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_with_an_unchanged_total_no_arm_moves_more_than_the_maximum_change(
    arms, total_c, max_change, seed
):
    arms = [Arm(arm.name, arm.spend, arm.pipeline, arm.results) for arm in arms]  # none paused
    settings = BudgetSettings(max_change=max_change, target_cost_per_result=1e6, samples=200)
    weights = np.random.default_rng(seed).dirichlet(np.ones(len(arms)))
    old = np.floor(weights * total_c)
    old[0] += total_c - old.sum()
    current = {arm.name: float(value) / 100 for arm, value in zip(arms, old, strict=True)}
    result = allocate(arms, current, total_c / 100, settings, rng=seed)
    for arm in result.arms:
        assert abs(cents(arm.budget) - cents(current[arm.name])) <= settings.max_change * total_c
        assert arm.reference == current[arm.name]
    assert not any("total moved" in note or "paused" in note for note in result.notes)


# --- the bandit learns ------------------------------------------------------------------


def run(rates: dict[str, float], cycles: int, data_seed: int, settings: BudgetSettings):
    """Cycles of a program spending $10,000 per cycle; a cycle's results are Poisson with the
    arm's true rate; the window holds the last 15 cycles (30 days at 48 hours)."""
    world = np.random.default_rng(data_seed)
    history: list[dict[str, tuple[float, int]]] = []
    current: dict[str, float] = {}
    splits = []
    for cycle in range(cycles):
        window = history[-15:]
        arms = [Arm(name, sum(h[name][0] for h in window),
                    30_000.0 * sum(h[name][1] for h in window), sum(h[name][1] for h in window))
                for name in rates]  # fmt: skip
        current = allocate(arms, current, 10_000, settings, rng=cycle).budgets()
        splits.append(current)
        history.append({name: (current[name], int(world.poisson(rate * current[name])))
                        for name, rate in rates.items()})  # fmt: skip
    return splits


def test_an_arm_three_times_better_gains_share_and_converges_within_the_limits():
    rates = {"strong": 1 / 1500, "weak_a": 1 / 4500, "weak_b": 1 / 4500}
    settings = BudgetSettings(pause_after_cost_multiple=100)  # the bandit alone
    shares = []
    for world in range(10):  # ten simulated programs, each with its own luck
        splits = run(rates, 20, world, settings)
        for before, after in zip(splits, splits[1:], strict=False):
            assert sum(after.values()) == pytest.approx(10_000, abs=0.001)
            assert max(abs(after[name] - before[name]) for name in rates) <= 2_000 + 1e-6
            assert min(after.values()) >= 500 - 1e-6  # the 5% floors keep the weak arms learning
        shares.append([split["strong"] / 10_000 for split in splits])
    strong = np.array(shares)
    assert np.abs(strong[:, 0] - 1 / 3).max() < 0.05  # no data: about an even split
    assert (strong[:, -5:].mean(axis=1) > 0.75).all()  # every program learns
    by_stage = [strong[:, first : first + 5].mean() for first in (0, 5, 10, 15)]
    assert by_stage == sorted(by_stage) and by_stage[-1] > 0.85  # rises, then settles
    assert by_stage[-1] - by_stage[-2] < 0.05  # near 90%: all but the two floors
    assert strong.max() <= 0.9 + 1e-9


def test_a_clearly_better_arm_is_more_likely_best_and_its_posterior_is_higher():
    arms = [Arm("good", 20_000, 600_000, 20), Arm("poor", 20_000, 200_000, 6)]
    result = allocate(arms, {"good": 5_000, "poor": 5_000}, 10_000)
    good, poor = result["good"], result["poor"]
    assert good.prob_best > 0.95 and good.prob_best + poor.prob_best == pytest.approx(1)
    assert good.mean > poor.mean and good.low < good.mean < good.high
    assert good.budget == 7_000  # +20% of the total, the most one cycle allows
    assert good.reason == "+$2,000, limited by the 20% maximum change"
    assert poor.reason == "-$2,000, limited by the 20% maximum change"


# --- pauses, floors, exploration --------------------------------------------------------


def test_an_arm_that_spent_over_three_times_the_target_without_an_opportunity_is_paused():
    settings = BudgetSettings(target_cost_per_result=2000, pause_after_cost_multiple=3)
    assert pause_reason(Arm("a", 6_000, 0, 0), settings) is None  # exactly 3× is not over
    assert pause_reason(Arm("a", 9_000, 50_000, 1), settings) is None  # one opportunity
    assert pause_reason(Arm("a", 6_400, 0, 0), settings) == (
        "paused: spent $6,400 with no opportunity, over 3× the $2,000 target")  # fmt: skip
    assert pause_reason(Arm("a", 0, 0, 0, paused=True), settings) == "paused by hand"
    arms = [Arm("linkedin_t1", 8_000, 240_000, 8), Arm("google_t2", 6_400, 0, 0)]
    result = allocate(arms, {"linkedin_t1": 6_000, "google_t2": 4_000}, 10_000, settings)
    assert result["google_t2"].budget == 0 and result["google_t2"].paused
    assert result["google_t2"].reason.startswith("paused: spent $6,400 with no opportunity")
    assert result["linkedin_t1"].budget == 10_000  # its money goes on, beyond the change limit
    assert any("$4,000 of paused arms" in note for note in result.notes)


def test_paused_arms_are_exempt_from_floors():
    settings = BudgetSettings(floor_share={"*": 0.3})
    arms = [Arm("a", 100, 0, 0), Arm("b", 100, 0, 0), Arm("c", 0, 0, 0, paused=True)]
    result = allocate(arms, {"a": 400, "b": 300, "c": 300}, 1_000, settings)
    assert result["c"].budget == 0 and result["c"].floor == 0
    assert result["a"].floor == result["b"].floor == 300


def test_every_arm_paused_is_an_error_unless_there_is_nothing_to_split():
    arms = [Arm("a", 0, 0, 0, paused=True)]
    with pytest.raises(GuardrailError):
        allocate(arms, {"a": 100}, 100)
    assert allocate(arms, {"a": 100}, 0).budgets() == {"a": 0}


def test_an_arm_with_no_data_starts_from_the_pooled_rate_and_gets_exploration_share():
    settings = BudgetSettings(floor_share=0)
    arms = [Arm("known_a", 30_000, 300_000, 12), Arm("known_b", 30_000, 270_000, 11),
            Arm("new", 0, 0, 0)]  # fmt: skip
    post = posterior(arms, settings)
    pooled = (23 + 1) / (60_000 + 2_000)  # one prior opportunity at the $2,000 target
    assert post.rate_shape[2] / post.rate_rate[2] == pytest.approx(pooled)
    result = allocate(arms, {"known_a": 5_000, "known_b": 5_000}, 10_000, settings)
    assert result["new"].prob_best > 0.15  # wide posterior: often best
    assert result["new"].budget >= 1_000  # without any floor, exploration alone
    assert "no data yet" in result["new"].reason
    assert result["new"].high / result["new"].low > result["known_a"].high / result["known_a"].low


def test_a_floor_holds_and_says_so():
    arms = [Arm("good", 50_000, 3_000_000, 100), Arm("poor", 50_000, 150_000, 5)]
    result = allocate(arms, {"good": 9_000, "poor": 1_000}, 10_000,
                      BudgetSettings(floor_share=0.1))  # fmt: skip
    assert result["poor"].budget == 1_000 and result["good"].budget == 9_000
    assert result["poor"].reason == "held at the floor ($1,000), unchanged"


def test_the_maximum_change_wins_over_a_floor_and_the_report_says_so():
    settings = BudgetSettings(floor_share={"new": 0.3}, max_change=0.1)
    arms = [Arm("old", 50_000, 1_000_000, 40), Arm("new", 0, 0, 0)]
    result = allocate(arms, {"old": 10_000}, 10_000, settings)
    assert result["new"].budget == 1_000  # toward its $3,000 floor by the most it may move
    assert result["new"].reason.startswith(
        "+$1,000, below its $3,000 floor: its own 10% maximum change allows no more"
    )
    assert any("maximum change wins" in note for note in result.notes)
    # the floor is reached over the next cycles
    again = allocate(arms, result.budgets(), 10_000, settings)
    assert again["new"].budget == 2_000
    assert allocate(arms, again.budgets(), 10_000, settings)["new"].budget == 3_000


def test_when_the_others_cannot_give_a_floor_is_lifted_as_far_as_they_can():
    settings = BudgetSettings(floor_share=0.15, max_change=0.2)
    arms = [Arm("big", 1_000, 0, 0), Arm("x", 0, 0, 0), Arm("y", 0, 0, 0)]
    result = allocate(arms, {"big": 10_000}, 10_000, settings)
    assert result["big"].budget == 8_000  # it can give only 20%
    assert result["x"].budget == result["y"].budget == 1_000  # short of $1,500 each, evenly
    assert "the other arms' 20% maximum change" in result["x"].reason


def test_an_arm_at_its_floor_is_not_pushed_below_it_to_lift_another():
    settings = BudgetSettings(floor_share=0.2, max_change=0.05)
    arms = [Arm(name, 0, 0, 0) for name in ("big", "c", "a", "b")]
    result = allocate(arms, {"big": 7_000, "c": 2_100, "a": 450, "b": 450}, 10_000, settings)
    assert result["big"].budget == 6_500  # gives all it may
    assert result["c"].budget == 2_000 and result["c"].reason.startswith("held at the floor")
    assert result["a"].budget == result["b"].budget == 750  # lifted with what is left
    assert "the other arms' 5% maximum change" in result["a"].reason


def test_a_new_total_moves_the_reference_and_the_notes_say_so():
    arms = [Arm("a", 5_000, 100_000, 4), Arm("b", 5_000, 100_000, 4)]
    result = allocate(arms, {"a": 6_000, "b": 4_000}, 20_000)
    assert result["a"].reference == 12_000 and result["b"].reference == 8_000
    for arm in result.arms:
        assert abs(arm.budget - arm.reference) <= 4_000  # 20% of the new total
    assert any("from $10,000 to $20,000" in note for note in result.notes)
    assert "(its current $6,000 rescaled)" in result["a"].reason


def test_the_first_cycle_starts_from_an_even_split():
    arms = [Arm(name, 0, 0, 0) for name in ("a", "b", "c", "d")]
    result = allocate(arms, {}, 1_000, BudgetSettings(max_change=0))
    assert result.budgets() == {"a": 250, "b": 250, "c": 250, "d": 250}
    assert result.notes == ("no current budgets: the maximum change counts from an even split",)


def test_budgets_are_whole_cents_adding_up_to_an_odd_total():
    arms = [Arm(name, 100, 0, 0) for name in ("a", "b", "c")]
    result = allocate(arms, {"a": 33.33, "b": 33.33, "c": 33.34}, 100.01)
    assert sum(cents(arm.budget) for arm in result.arms) == 10_001
    assert all(arm.budget == cents(arm.budget) / 100 for arm in result.arms)


# --- inputs, settings, cadence ----------------------------------------------------------


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="spend"):
        Arm("a", -1, 0, 0)
    with pytest.raises(ValueError, match="unique"):
        allocate([Arm("a", 0, 0, 0), Arm("a", 0, 0, 0)], {}, 10)
    with pytest.raises(ValueError, match="not given: gone"):
        allocate([Arm("a", 0, 0, 0)], {"gone": 5}, 10)
    with pytest.raises(ValueError, match="total"):
        allocate([Arm("a", 0, 0, 0)], {}, -10)
    with pytest.raises(ValidationError):
        BudgetSettings(floor_share={"a": 1.5})
    with pytest.raises(ValidationError):
        BudgetSettings(max_change=1.2)


def test_settings_are_described_and_floors_resolve_per_arm():
    assert all(field.description for field in BudgetSettings.model_fields.values())
    settings = BudgetSettings(floor_share={"linkedin_t1": 0.2, "*": 0.1})
    assert settings.floor_for("linkedin_t1") == 0.2 and settings.floor_for("other") == 0.1
    assert BudgetSettings(floor_share={"a": 0.2}).floor_for("other") == 0
    defaults = BudgetSettings()
    assert (defaults.cadence_hours, defaults.window_days, defaults.floor_share) == (48, 30, 0.05)
    assert (defaults.max_change, defaults.pause_after_cost_multiple) == (0.2, 3)


def test_a_reallocation_is_due_every_cadence():
    now = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
    assert due(None, now, 48)
    assert not due(now - dt.timedelta(hours=47, minutes=59), now, 48)
    assert due(now - dt.timedelta(hours=48), now, 48)


def test_the_example_in_the_docs_runs_and_prints_what_they_show():
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    shown = re.search(r"and the reason:\n\n```\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert code and shown
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code[1], {})
    assert printed.getvalue() == shown[1], "docs/budget.md: update the printed example"
