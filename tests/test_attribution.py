"""Attribution over aggregated paths: hand-computed cases for every model, properties (credit
sums to what is attributed, a one-channel path gives that channel everything, relabelling the
channels relabels the credit), the exact Markov removal effects against hand-solved chains (first
and higher order, conversions and value), exact against sampled Shapley values, the flat
`Paths` arrays at 200,000 distinct paths, and the path file's errors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abmkit.measure.attribution as attribution
from abmkit.errors import AbmError, InputError
from abmkit.measure.attribution import (
    MODELS,
    Paths,
    applicable_models,
    attribute,
    conversion_probability,
    read_paths,
    touch_weights,
    transitions,
)


def credit(rows, model, **options):
    found = attribute(Paths.of(rows), model, **options)
    return {c: round(float(v), 9) for c, v in zip(found.channels, found.conversions, strict=True)}


def aged(rows) -> Paths:
    """Paths from rows of ([(channel, age in days), ...], conversions, value, nulls)."""
    names = sorted({c for touches, *_ in rows for c, _ in touches})
    return Paths.from_arrays(
        tuple(names),
        np.array([names.index(c) for touches, *_ in rows for c, _ in touches], np.int64),
        np.array([len(touches) for touches, *_ in rows], np.int64),
        *(np.array([r[i] for r in rows], float) for i in (1, 2, 3)),
        age_days=np.array([a for touches, *_ in rows for _, a in touches], float),
    )


def by_channel(found) -> dict[str, float]:
    return dict(zip(found.channels, found.conversions.tolist(), strict=True))


# -- heuristics by hand ------------------------------------------------------------------------
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
    # three touches: U gives 40/20/40; W gives each 30% + 10%/3
    assert credit([(["a", "b", "c"], 3, 0, 0)], "u_shaped") == {"a": 1.2, "b": 0.6, "c": 1.2}
    assert credit([(["a", "b", "c"], 3, 0, 0)], "w_shaped") == pytest.approx({"a": 1, "b": 1,
                                                                               "c": 1})  # fmt: skip
    # four touches: the middle is the earlier of the two central ones (b); c gets the 10%
    assert credit([(["a", "b", "c", "d"], 10, 0, 0)], "w_shaped") == {"a": 3, "b": 3, "c": 1,
                                                                      "d": 3}  # fmt: skip


def test_touch_weights_of_every_path_add_up_to_one_for_all_lengths():
    paths = Paths.of([(["a"] * n, 1, 0, 0) for n in range(1, 12)])
    for model in ("first", "last", "linear", "u_shaped", "w_shaped"):
        w = touch_weights(paths, model)
        assert np.add.reduceat(w, paths.offsets[:-1]) == pytest.approx(np.ones(11)), model


# -- time decay --------------------------------------------------------------------------------
def test_time_decay_by_hand():
    # half-life 7 days: ages 0 and 7 weigh 1 and 1/2 → shares 2/3 and 1/3 of 3 conversions
    two = aged([([("a", 0.0), ("b", 7.0)], 3, 30, 0)])
    found = attribute(two, "time_decay", half_life_days=7.0)
    assert by_channel(found) == pytest.approx({"a": 2, "b": 1})
    assert found.value.tolist() == pytest.approx([20, 10])
    # ages 14, 7, 0 weigh 1/4, 1/2, 1 (sum 7/4) → 1/7, 2/7, 4/7 of 7 conversions
    three = aged([([("a", 14.0), ("b", 7.0), ("c", 0.0)], 7, 0, 0)])
    assert by_channel(attribute(three, "time_decay")) == pytest.approx({"a": 1, "b": 2, "c": 4})
    # a half-life of 14 days: 2^-1, 2^-0.5, 1 → normalized by 1.5 + √½
    total = 0.5 + 2**-0.5 + 1
    assert by_channel(attribute(three, "time_decay", half_life_days=14)) == pytest.approx(
        {"a": 7 * 0.5 / total, "b": 7 * 2**-0.5 / total, "c": 7 / total}
    )
    # very old journeys do not underflow: only the differences in age matter
    old = aged([([("a", 5000.0), ("b", 5007.0)], 3, 0, 0)])
    assert by_channel(attribute(old, "time_decay")) == pytest.approx({"a": 2, "b": 1})


def test_time_decay_needs_touch_ages(tmp_path):
    file = tmp_path / "paths.csv"
    file.write_text("path;total_conversions;total_conversion_value;total_null\na > b;1;2;0\n",
                    encoding="utf-8")  # fmt: skip
    paths = read_paths(file)
    with pytest.raises(AbmError, match="time_decay needs touch times"):
        attribute(paths, "time_decay")
    assert "time_decay" not in applicable_models(paths)
    assert applicable_models(aged([([("a", 1.0)], 1, 0, 0)])) == MODELS
    with pytest.raises(AbmError, match="half_life_days"):
        attribute(aged([([("a", 1.0)], 1, 0, 0)]), "time_decay", half_life_days=0)


@settings(max_examples=40)
@given(length=st.integers(1, 8), age=st.floats(0, 400), conv=st.integers(1, 30),
       channels=st.lists(st.sampled_from("abcd"), min_size=8, max_size=8))  # fmt: skip
def test_time_decay_with_equal_ages_is_linear(length, age, conv, channels):
    rows = [([(c, age) for c in channels[:length]], conv, 2 * conv, 1)]
    decay = attribute(aged(rows), "time_decay")
    linear = attribute(aged(rows), "linear")
    assert decay.conversions == pytest.approx(linear.conversions)
    assert decay.value == pytest.approx(linear.value)


@settings(max_examples=40)
@given(age=st.floats(0.01, 100), half_life=st.floats(0.5, 60))
def test_a_touch_twice_as_old_gets_less_by_the_half_life(age, half_life):
    paths = aged([([("old", 2 * age), ("new", age)], 1, 0, 0)])
    found = by_channel(attribute(paths, "time_decay", half_life_days=half_life))
    assert found["old"] < found["new"]
    assert found["old"] / found["new"] == pytest.approx(2 ** (-age / half_life))


# -- Markov by hand ----------------------------------------------------------------------------
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
    # value: a's conversions are worth 10 each (20/2), b's 10 (10/1): the same mean, so the
    # value removal effects equal the conversion ones and the value splits alike
    assert found.value_removal_effect == pytest.approx(found.removal_effect)
    assert found.value == pytest.approx([30 * share_a, 30 * (1 - share_a)])


def test_markov_value_follows_the_value_of_conversions_from_each_last_state():
    # a converts once worth 100, b once worth 10. Conversions: start a or b (1/2 each), each
    # converts surely: removing either halves P(conv) → effects 1/2, 1/2 → one conversion each.
    # Value: E = 1/2·100 + 1/2·10 = 55; without a: 5 → 1 − 5/55 = 10/11; without b: 50 → 1/11
    # → value 110 · (10/11) / (11/11) = 100 to a and 10 to b.
    found = attribute(Paths.of([(["a"], 1, 100, 0), (["b"], 1, 10, 0)]), "markov")
    assert found.conversions == pytest.approx([1, 1])
    assert found.value_removal_effect == pytest.approx([10 / 11, 1 / 11])
    assert found.value == pytest.approx([100, 10])
    # both convert through c: a conversion's value is the mean of the conversions from c,
    # (40 + 100) / 3, whoever brought the journey there. start a 2/3, b 1/3; removing a loses
    # 2/3 of conversions and of value, b 1/3, c all → value 140·(2/3, 1/3, 1)/2 to a, b, c
    pooled = attribute(Paths.of([(["a", "c"], 2, 40, 0), (["b", "c"], 1, 100, 0)]), "markov")
    assert pooled.channels == ("a", "c", "b")
    assert pooled.value == pytest.approx([140 / 3, 70, 70 / 3])
    assert pooled.rows()[0]["value_removal_effect"] == pytest.approx(2 / 3)


def test_higher_order_markov_by_hand():
    # a > c converts once, b > c ends in null once.
    rows = [(["a", "c"], 1, 10, 0), (["b", "c"], 0, 0, 1)]
    # order 1: c is one state, converting half the time. P(conv) = 1/2; without a: 1/4 → 1/2;
    # without b: 1/4 → 1/2; without c: 0 → 1. Shares 1/4, 1/4, 1/2 of one conversion.
    first = attribute(Paths.of(rows), "markov")
    assert first.conversions == pytest.approx([0.25, 0.5, 0.25])  # channels a, c, b
    # order 2: the states are "a c" (always converts) and "b c" (never). Without a: 0 → 1;
    # without b: 1/2 → 0; without c: 0 → 1. Shares 1/2, 1/2, 0: b never helped.
    second = attribute(Paths.of(rows), "markov", order=2)
    assert second.removal_effect == pytest.approx([1, 1, 0])
    assert second.conversions == pytest.approx([0.5, 0.5, 0])
    # a path shorter than the order is one state of its channels; "x x x" is one state "x x"
    short = attribute(Paths.of([(["x"], 1, 1, 0), (["x", "x", "x"], 2, 1, 1)]), "markov", order=2)
    assert short.conversions == pytest.approx([3])
    with pytest.raises(AbmError, match="order"):
        attribute(Paths.of(rows), "markov", order=0)


# -- Shapley by hand ---------------------------------------------------------------------------
def test_shapley_by_hand():
    # {a}: 2 conversions, {a, b}: 2, {b, c}: 3. v(a)=2, v(b)=v(c)=0, v(ab)=4, v(ac)=2,
    # v(bc)=3, v(abc)=7. φ_a = 1/3·(2−0) + 1/6·(4−0) + 1/6·(2−0) + 1/3·(7−3) = 3;
    # φ_b = 1/3·0 + 1/6·(4−2) + 1/6·(3−0) + 1/3·(7−2) = 2.5; φ_c = 7 − 3 − 2.5 = 1.5
    rows = [(["a"], 2, 20, 0), (["a", "b", "a"], 2, 0, 5), (["c", "b"], 3, 30, 1)]
    assert credit(rows, "shapley") == pytest.approx({"a": 3, "b": 2.5, "c": 1.5})
    # value alike: v(a)=20, v(ab)=20, v(bc)=30 → a 20, b 15, c 15
    found = attribute(Paths.of(rows), "shapley")
    assert found.value.tolist() == pytest.approx([20, 15, 15])
    # sampled orderings of the same three channels
    sampled = credit(rows, "shapley", max_exact=2, samples=20_000, seed=1)
    assert sampled == pytest.approx({"a": 3, "b": 2.5, "c": 1.5}, abs=0.05)
    assert sum(sampled.values()) == pytest.approx(7)
    with pytest.raises(AbmError, match="max_exact"):
        attribute(Paths.of(rows), "shapley", max_exact=21)


def random_paths(n: int, k: int, seed: int, max_length: int = 8) -> Paths:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_length + 1, n)
    weights = 1 / np.arange(1, k + 1)
    channel = rng.choice(k, size=int(lengths.sum()), p=weights / weights.sum())
    conv = rng.integers(0, 5, n).astype(float)
    return Paths.from_arrays(tuple(f"ch{i:02d}" for i in range(k)), channel, lengths, conv,
                             conv * rng.uniform(1, 100, n), rng.integers(0, 9, n),
                             rng.exponential(20, int(lengths.sum())))  # fmt: skip


def test_exact_shapley_is_each_journeys_split_over_its_distinct_channels():
    # v is a sum of unanimity games, one per journey: an independent check of the transform
    paths = random_paths(2000, 15, seed=5)
    k = len(paths.channels)
    pair = np.unique(paths.path_of * k + paths.channel)
    path, channel = pair // k, pair % k
    size = np.bincount(path, minlength=len(paths))
    closed = np.bincount(channel, paths.conversions[path] / size[path], minlength=k)
    found = attribute(paths, "shapley")
    assert found.conversions == pytest.approx(closed)


def test_exact_and_sampled_shapley_agree_on_twelve_channels():
    paths = random_paths(3000, 12, seed=3)
    exact = attribute(paths, "shapley")
    sampled = attribute(paths, "shapley", max_exact=5, samples=4000, seed=11)
    total = paths.conversions.sum()
    assert np.abs(sampled.conversions - exact.conversions).max() < 0.01 * total
    assert np.abs(sampled.value - exact.value).max() < 0.01 * paths.value.sum()
    assert sampled.conversions.sum() == pytest.approx(total)  # every ordering adds up
    again = attribute(paths, "shapley", max_exact=5, samples=4000, seed=11)
    assert again.conversions.tolist() == sampled.conversions.tolist()  # seeded


# -- properties of every model -----------------------------------------------------------------
touches = st.lists(st.tuples(st.sampled_from("abcdef"), st.floats(0, 90)), min_size=1,
                   max_size=7)  # fmt: skip
journeys = st.lists(
    st.tuples(touches, st.integers(0, 20), st.integers(0, 500), st.integers(0, 20)),
    min_size=1, max_size=25,
).filter(lambda rows: sum(r[1] for r in rows) > 0)  # fmt: skip
options = st.sampled_from([
    ("first", {}), ("last", {}), ("linear", {}), ("time_decay", {"half_life_days": 7.0}),
    ("time_decay", {"half_life_days": 0.5}), ("u_shaped", {}), ("w_shaped", {}),
    ("markov", {}), ("markov", {"order": 2}), ("markov", {"order": 3}), ("shapley", {}),
    ("shapley", {"max_exact": 2, "samples": 50}),
])  # fmt: skip


@settings(max_examples=120)
@given(rows=journeys, choice=options)
def test_credit_adds_up_to_what_was_attributed(rows, choice):
    model, kw = choice
    found = attribute(aged(rows), model, **kw)
    assert found.conversions.sum() == pytest.approx(sum(r[1] for r in rows))
    assert found.value.sum() == pytest.approx(sum(r[2] for r in rows))
    assert (found.conversions >= -1e-9).all() and (found.value >= -1e-9).all()


@settings(max_examples=60)
@given(n=st.integers(1, 6), conv=st.integers(1, 50), value=st.integers(0, 900),
       nulls=st.integers(0, 50), choice=options, age=st.floats(0, 60))  # fmt: skip
def test_a_one_channel_path_gives_that_channel_everything(n, conv, value, nulls, choice, age):
    model, kw = choice
    found = attribute(aged([([("x", age)] * n, conv, value, nulls)]), model, **kw)
    assert found.conversions == pytest.approx([conv]) and found.value == pytest.approx([value])


@settings(max_examples=80)
@given(rows=journeys, choice=options, order=st.permutations(range(6)))
def test_relabelling_the_channels_relabels_the_credit(rows, choice, order):
    # the same journeys, the channels numbered in another order (and renamed)
    model, kw = choice
    if kw.get("max_exact") == 2:  # sampled: the orderings drawn depend on the numbering
        return
    before = aged(rows)
    k = len(before.channels)
    perm = np.argsort(np.array(order)[:k])  # channel i becomes number perm[i]
    names = [""] * k
    for i, name in enumerate(before.channels):
        names[perm[i]] = name.upper()
    after = Paths.from_arrays(tuple(names), perm[before.channel], before.lengths,
                              before.conversions, before.value, before.nulls,
                              before.age_days)  # fmt: skip
    b, a = attribute(before, model, **kw), attribute(after, model, **kw)
    assert {c.upper(): v for c, v in by_channel(b).items()} == pytest.approx(by_channel(a))
    bv = dict(zip([c.upper() for c in b.channels], b.value.tolist(), strict=True))
    assert bv == pytest.approx(dict(zip(a.channels, a.value.tolist(), strict=True)))


@settings(max_examples=60)
@given(rows=journeys)
def test_order_one_markov_equals_the_first_order_chain(rows):
    # the general (order-k) chain at k = 1 against the plain k × k chain solved on its own
    paths = aged(rows)
    found = attribute(paths, "markov", order=1)
    start, between, ends = transitions(paths)
    base = conversion_probability(start, between, ends)
    effect = [1 - conversion_probability(start, between, ends, removed=c) / base
              for c in range(len(paths.channels))]  # fmt: skip
    assert found.removal_effect == pytest.approx(effect, abs=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_large_chains_pushed_through_sparsely_equal_the_dense_solve(order, monkeypatch):
    paths = random_paths(4000, 7, seed=order)
    dense = attribute(paths, "markov", order=order)
    monkeypatch.setattr(attribution, "DENSE_STATES", 0)
    sparse = attribute(paths, "markov", order=order)
    assert sparse.removal_effect == pytest.approx(dense.removal_effect, abs=1e-10)
    assert sparse.value_removal_effect == pytest.approx(dense.value_removal_effect, abs=1e-10)
    monkeypatch.setattr(attribution, "MAX_STEPS", 1)  # not settled: the sparse LU fallback
    lu = attribute(paths, "markov", order=order)
    assert lu.removal_effect == pytest.approx(dense.removal_effect, abs=1e-10)


# -- the flat arrays ---------------------------------------------------------------------------
def test_from_arrays_equals_of_and_checks_its_arrays():
    rows = [(["a", "b", "a"], 3, 30, 0), (["b"], 1, 10, 2)]
    of = Paths.of(rows)
    flat = Paths.from_arrays(("a", "b"), np.array([0, 1, 0, 1]), np.array([3, 1]),
                             np.array([3, 1]), np.array([30, 10]), np.array([0, 2]))  # fmt: skip
    assert flat.channel.tolist() == of.channel.tolist() == [0, 1, 0, 1]
    assert flat.offsets.tolist() == [0, 3, 4] and flat.lengths.tolist() == [3, 1]
    assert flat.position.tolist() == [0, 1, 2, 0] and len(flat) == 2
    for model in ("first", "linear", "markov", "shapley"):
        assert attribute(flat, model).conversions.tolist() == pytest.approx(
            attribute(of, model).conversions.tolist()
        )
    good = {"channels": ("a", "b"), "channel": np.array([0, 1]), "lengths": np.array([1, 1]),
            "conversions": np.ones(2), "value": np.ones(2), "nulls": np.zeros(2)}  # fmt: skip
    bad = [({"lengths": np.array([2, 0])}, "needs a touch"),
           ({"lengths": np.array([1, 2])}, "add up to 3"),
           ({"channel": np.array([0, 2])}, "indices"),
           ({"channel": np.array([0.0, 1.0])}, "integer"),
           ({"channels": ("a", "a")}, "distinct"),
           ({"conversions": np.array([1, -1])}, "conversions must be finite"),
           ({"value": np.array([1, np.nan])}, "value must be finite"),
           ({"nulls": np.zeros(3)}, "nulls must hold 2"),
           ({"age_days": np.array([1.0])}, "age_days must hold 2"),
           ({"age_days": np.array([1.0, -2.0])}, "age_days must be finite")]  # fmt: skip
    for change, message in bad:
        with pytest.raises(AbmError, match=message):
            Paths.from_arrays(**{**good, **change})


def test_two_hundred_thousand_distinct_paths(tmp_path):
    # functional, not timed: every model over 200,000 distinct paths read from a file
    rng = np.random.default_rng(2024)
    n, k = 340_000, 12
    lengths = np.minimum(rng.geometric(0.12, n), 20)
    channel = rng.integers(0, k, int(lengths.sum()))
    names = pa.array([f"ch{i}" for i in range(k)]).take(pa.array(channel))
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int32)
    text = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), names), " > ")
    unique = np.unique(np.asarray(text.to_numpy(zero_copy_only=False)), return_index=True)[1]
    keep = np.sort(unique)[:200_000]
    conv, nulls = rng.poisson(1, keep.size), rng.poisson(3, keep.size)
    body = pc.binary_join_element_wise(
        text.take(pa.array(keep)), pa.array(conv.astype(str)),
        pa.array((conv * 12.5).astype(str)), pa.array(nulls.astype(str)), ";"
    )  # fmt: skip
    file = tmp_path / "paths.csv"
    file.write_text("path;total_conversions;total_conversion_value;total_null\n"
                    + "\n".join(body.to_pylist()) + "\n", encoding="utf-8")  # fmt: skip
    paths = read_paths(file)
    assert len(paths) == 200_000 and paths.channel.size == int(lengths[keep].sum())
    assert paths.lengths.tolist() == lengths[keep].tolist()
    for model in applicable_models(paths):
        found = attribute(paths, model)
        assert found.conversions.sum() == pytest.approx(conv.sum()), model
        assert found.value.sum() == pytest.approx(conv.sum() * 12.5), model
    assert attribute(paths, "markov", order=3).conversions.sum() == pytest.approx(conv.sum())
    sampled = attribute(paths, "shapley", max_exact=4, samples=200)
    assert sampled.conversions.sum() == pytest.approx(conv.sum())


# -- the path file -----------------------------------------------------------------------------
def test_the_path_file_is_read_and_its_errors_name_row_and_column(tmp_path):
    good = tmp_path / "paths.csv"
    good.write_text("path;total_conversions;total_conversion_value;total_null\n"
                    "eta > iota > alpha;2;10.5;3\nalpha;1;5;0\n", encoding="utf-8")  # fmt: skip
    paths = read_paths(good)
    assert paths.channels == ("eta", "iota", "alpha")
    assert paths.channel.tolist() == [0, 1, 2, 2] and paths.lengths.tolist() == [3, 1]
    assert paths.conversions.tolist() == [2, 1] and paths.nulls.tolist() == [3, 0]
    assert paths.value.tolist() == [10.5, 5] and paths.age_days is None
    bad = tmp_path / "bad.csv"
    bad.write_text("path;total_conversions;total_conversion_value;total_null\n"
                   "a > > b;1;2;0\nc;x;2;0\n\nd;1;-2;0\ne;1;2;nan\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError) as caught:
        read_paths(bad)
    text = str(caught.value)
    assert "row 2, column 'path'" in text and "row 3, column 'total_conversions'" in text
    # the blank line 4 is skipped but still counted
    assert "row 5, column 'total_conversion_value'" in text
    assert "row 6, column 'total_null': 'nan' must be 0 or more" in text
    headless = tmp_path / "headless.csv"
    headless.write_text("a > b;1;2;0\n", encoding="utf-8")
    with pytest.raises(InputError, match="header lacks"):
        read_paths(headless)
    empty = tmp_path / "empty.csv"
    empty.write_text("path;total_conversions;total_conversion_value\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no paths"):
        read_paths(empty)


def test_the_path_file_without_nulls_with_a_bom_and_other_separators(tmp_path):
    file = tmp_path / "paths.csv"
    file.write_text("\ufeffpath ; total_conversions;total_conversion_value;extra\n"
                    " x | y | x ;1;1_000;z\ny;2; 4;\n", encoding="utf-8")  # fmt: skip
    paths = read_paths(file, sep="|")
    assert paths.channels == ("x", "y") and paths.channel.tolist() == [0, 1, 0, 1]
    assert paths.nulls.tolist() == [0, 0] and paths.value.tolist() == [1000, 4]


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
    assert as_csv.output.splitlines()[0] == "model,channel,conversions,value"
    missing = runner.invoke(app, ["attribution", "--paths", str(tmp_path / "none.csv")])
    assert missing.exit_code != 0 and "cannot be read" in str(missing.exception)
