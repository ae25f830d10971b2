"""Attribution over journeys: who gets the credit for a conversion (an opportunity, a deal).

Journeys are aggregated paths — a sequence of channels, the conversions and the conversion value
they ended in, and how many ended in nothing — the format of the reference implementation's
`Data.csv` (`path;total_conversions;total_conversion_value;total_null`, channels joined by
` > `), or built from arrays (`Paths.from_arrays`, e.g. one path per account and opportunity,
with each touch's age). `Paths` is flat (every touch in one array, paths as lengths), so every
model is array work over all touches at once, never a loop over paths:

- **first**, **last**: the whole conversion to the path's first or last touch;
- **linear**: an equal share to every touch (a channel touched twice gets two shares);
- **time_decay**: a touch's share ∝ 2^(−age / half-life), the age in days before the conversion
  (or the end of the journey); needs touch ages, which a path file does not have;
- **u_shaped**: 40% first, 40% last, 20% spread over the touches between (one touch: all of it;
  two: half each);
- **w_shaped**: 30% first, 30% to the middle touch (the moment the journey turned, when no
  stage marks it), 30% last, 10% spread over the rest;
- **markov**: a Markov chain over the journeys' states (the last `order` channels) with
  absorbing conversion and null states; a channel's credit is proportional to its **removal
  effect** — how much the chance of conversion from the start falls when every state holding the
  channel is removed (its visits end in null) — solved exactly from the absorbing chain, not by
  simulating paths. Equivalently: the share of converting journeys of the chain that pass
  through the channel. Value is credited the same way with the expected conversion value;
- **shapley**: Shapley values of the coalition game v(S) = conversions (value) of the journeys
  whose channels all lie in S; exact up to `max_exact` channels, sampled orderings beyond.

The heuristics credit exactly the conversions and value of the paths; markov and shapley credit
the totals too (their shares are scaled to them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from threadpoolctl import threadpool_limits

from abmkit.errors import AbmError, InputError, Problem

Model = Literal[
    "first", "last", "linear", "time_decay", "u_shaped", "w_shaped", "markov", "shapley"
]
HEURISTICS = ("first", "last", "linear", "time_decay", "u_shaped", "w_shaped")
MODELS: tuple[str, ...] = (*HEURISTICS, "markov", "shapley")
PATH_HEADER = ("path", "total_conversions", "total_conversion_value", "total_null")
SEPARATOR = ">"
DENSE_STATES = 600  # chains with at most this many states are solved densely, larger sparsely
LOOKUP_STATES = 1 << 22  # state codes below this are numbered through a lookup table, not a sort
MAX_EXACT = 20  # exact Shapley values: 2^20 coalitions at most
TRANSIT_TOLERANCE = 1e-13  # large chains: stop when mass in transit bounds the error below this
MAX_STEPS = 20_000  # ... or fall back to a sparse LU after this many moves


@dataclass(frozen=True, eq=False)
class Paths:
    """Paths, flat: `channel` holds every touch of every path in order (indices into
    `channels`), `offsets[i]:offsets[i + 1]` are path i's touches; per path the conversions,
    their value and the journeys that ended in nothing (nulls); optionally each touch's age in
    days before the conversion or the end of the journey. Paths may be distinct (aggregated)
    or one per journey: every model sums over paths, so both give the same credit. Build with
    `of`, `from_arrays` or `read_paths`, which check the arrays."""

    channels: tuple[str, ...]
    channel: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray
    age_days: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls,
        channels: tuple[str, ...],
        channel: np.ndarray,
        lengths: np.ndarray,
        conversions: np.ndarray,
        value: np.ndarray,
        nulls: np.ndarray,
        age_days: np.ndarray | None = None,
    ) -> Paths:
        """From flat arrays: `channel` (int, every touch in order, an index into `channels`),
        `lengths` (touches per path, each ≥ 1), per path `conversions`, `value`, `nulls` (≥ 0),
        and optionally `age_days` per touch (≥ 0: days from the touch to the conversion, or to
        the end of a journey that did not convert). Raises `AbmError` naming what is wrong."""
        channels = tuple(str(c) for c in channels)
        if len(set(channels)) != len(channels):
            raise AbmError("Paths: channel names must be distinct")
        touch = _ints(channel, "channel")
        length = _ints(lengths, "lengths")
        if length.size and length.min() < 1:
            raise AbmError("Paths: every path needs a touch (lengths ≥ 1); leave out journeys "
                           "without touches, no channel can take their credit")  # fmt: skip
        if int(length.sum()) != touch.size:
            raise AbmError(f"Paths: lengths add up to {int(length.sum())} touches but channel "
                           f"has {touch.size}")  # fmt: skip
        if touch.size and (touch.min() < 0 or touch.max() >= len(channels)):
            raise AbmError(f"Paths: channel indices must lie in 0..{len(channels) - 1}")
        n = length.size
        ages = None if age_days is None else _amounts(age_days, "age_days", touch.size)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(length, out=offsets[1:])
        return cls(channels, touch, offsets, _amounts(conversions, "conversions", n),
                   _amounts(value, "value", n), _amounts(nulls, "nulls", n), ages)  # fmt: skip

    @classmethod
    def of(cls, rows: Iterable[tuple[list[str], float, float, float]]) -> Paths:
        """From (channels of the path, conversions, value, nulls) rows; channels are numbered
        in order of first appearance. For small, hand-made inputs: it reads Python objects."""
        index: dict[str, int] = {}
        touches: list[int] = []
        lengths, conv, value, nulls = [], [], [], []
        for names, c, v, n in rows:
            touches.extend(index.setdefault(x, len(index)) for x in names)
            lengths.append(len(names))
            conv.append(c)
            value.append(v)
            nulls.append(n)
        return cls.from_arrays(tuple(index), np.array(touches, np.int64),
                               np.array(lengths, np.int64), np.array(conv, float),
                               np.array(value, float), np.array(nulls, float))  # fmt: skip

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Touches per path."""
        return np.diff(self.offsets)

    @property
    def path_of(self) -> np.ndarray:
        """The path of every touch."""
        return np.repeat(np.arange(len(self)), self.lengths)

    @property
    def position(self) -> np.ndarray:
        """Every touch's position in its path (0 for the first)."""
        return np.arange(self.channel.size) - np.repeat(self.offsets[:-1], self.lengths)


def _ints(a: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(a)
    if out.ndim != 1 or (out.size and not np.issubdtype(out.dtype, np.integer)):
        raise AbmError(f"Paths: {name} must be a one-dimensional integer array")
    return out.astype(np.int64, copy=False)


def _amounts(a: np.ndarray, name: str, size: int) -> np.ndarray:
    out = np.asarray(a, dtype=float)
    if out.shape != (size,):
        raise AbmError(f"Paths: {name} must hold {size} numbers, not shape {out.shape}")
    if not np.isfinite(out).all() or (out < 0).any():
        raise AbmError(f"Paths: {name} must be finite and 0 or more")
    return out


@dataclass(frozen=True)
class Credit:
    """Conversions and value credited to each channel by one model; for markov also the removal
    effects (of the conversions, and of the conversion value)."""

    model: str
    channels: tuple[str, ...]
    conversions: np.ndarray
    value: np.ndarray
    removal_effect: np.ndarray | None = None
    value_removal_effect: np.ndarray | None = None

    def rows(self) -> list[dict]:
        out = [{"channel": c, "conversions": float(self.conversions[i]),
                "value": float(self.value[i])} for i, c in enumerate(self.channels)]  # fmt: skip
        for key in ("removal_effect", "value_removal_effect"):
            effect = getattr(self, key)
            if effect is not None:
                for i, row in enumerate(out):
                    row[key] = float(effect[i])
        return out


# -- reading a path file -----------------------------------------------------------------------
def read_paths(path: Path, sep: str = SEPARATOR) -> Paths:
    """An aggregated-path file (`path;total_conversions;total_conversion_value;total_null`, a
    header row; `total_null` may be missing); every bad cell is reported with its row and
    column. Read and split with vectorized string operations, so a million paths load in
    seconds."""
    try:
        return _read_paths(path, sep)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError([Problem(str(path), None, None, f"cannot be read: {reason}")]) from None


def _read_paths(path: Path, sep: str) -> Paths:
    where = str(path)
    try:
        frame = pd.read_csv(path, sep=";", dtype="string[pyarrow]", keep_default_na=False,
                            skip_blank_lines=False, encoding="utf-8-sig")  # fmt: skip
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except pd.errors.ParserError as exc:
        raise InputError([Problem(where, None, None, f"cannot be parsed: {exc}")]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [h for h in PATH_HEADER[:3] if h not in frame.columns]
    if missing:
        raise InputError([Problem(where, 1, None, f"the header lacks {missing}; it must be "
                                  f"{';'.join(PATH_HEADER)}")])  # fmt: skip
    text = {c: pc.utf8_trim_whitespace(pa.chunked_array(pa.array(frame[c], pa.string()))
                                       .combine_chunks().fill_null(""))
            for c in frame.columns}  # fmt: skip
    filled = np.zeros(len(frame), bool)
    for column in text.values():
        filled |= pc.not_equal(column, "").to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(filled)  # blank lines are skipped; a row's number is its line
    if rows.size == 0:
        raise InputError([Problem(where, None, None, "no paths")])
    taken = pa.array(rows)
    cells = {c: text[c].take(taken) for c in PATH_HEADER if c in text}
    nulls = cells.get("total_null", pa.array(["0"] * rows.size, pa.string()))
    cells["total_null"] = pc.if_else(pc.equal(nulls, ""), "0", nulls)

    lists = pc.split_pattern(cells["path"], sep)
    names = pc.utf8_trim_whitespace(lists.flatten())
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    empty = pc.equal(pc.utf8_length(names), 0).to_numpy(zero_copy_only=False)
    bad = [np.bincount(np.repeat(np.arange(rows.size), lengths), empty, minlength=rows.size) > 0]
    numbers = {name: _numbers(cells[name]) for name in PATH_HEADER[1:]}
    bad += [~(np.isfinite(x) & (x >= 0)) for x in numbers.values()]
    problems = []
    for i in np.flatnonzero(np.logical_or.reduce(bad)):
        row = {c: str(cells[c][i].as_py()) for c in cells}
        problem = _cell_problem(where, int(rows[i]) + 2, row, sep)
        if problem is None:  # a number Python reads but Arrow does not, e.g. "1_000"
            for name in PATH_HEADER[1:]:
                numbers[name][i] = float(row[name])
        else:
            problems.append(problem)
    if problems:
        raise InputError(problems)
    codes = pc.dictionary_encode(names)  # channels numbered in order of first appearance
    return Paths.from_arrays(
        tuple(codes.dictionary.to_pylist()),
        codes.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        lengths,
        *(numbers[name] for name in PATH_HEADER[1:]),
    )


def _numbers(column: pa.Array) -> np.ndarray:
    """Text cells as floats, NaN where a cell is not a number (cast whole by Arrow; a column
    with a bad cell is parsed again leniently)."""
    try:
        out = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        out = pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(float)
    return np.array(out, dtype=float)  # a writable copy: bad cells may be filled in


def _cell_problem(where: str, row: int, cells: dict[str, str], sep: str) -> Problem | None:
    """The first bad cell of a row flagged as bad, read again one cell at a time for the
    message (only the few bad rows come here)."""
    if any(not c.strip() for c in cells["path"].split(sep)) or not cells["path"]:
        return Problem(where, row, "path", "an empty channel in the path")
    for name in PATH_HEADER[1:]:
        text = cells[name]
        try:
            number = float(text)
        except ValueError:
            return Problem(where, row, name, f"{text!r} is not a number")
        if number < 0 or not np.isfinite(number):
            return Problem(where, row, name, f"{text!r} must be 0 or more")
    return None


# -- heuristics --------------------------------------------------------------------------------
def touch_weights(paths: Paths, model: str, *, half_life_days: float = 7.0) -> np.ndarray:
    """Each touch's share of its path's conversion under a rule-based model; the shares of a
    path add up to 1. Array work over every touch at once."""
    n = np.repeat(paths.lengths, paths.lengths)
    pos = paths.position
    first, last = pos == 0, pos == n - 1
    if model == "first":
        return first.astype(float)
    if model == "last":
        return last.astype(float)
    if model == "linear":
        return 1.0 / n
    if model == "time_decay":
        return _decay(paths, half_life_days)
    if model == "u_shaped":
        w = np.where(first | last, 0.4, 0.2 / np.maximum(n - 2, 1))
        return np.where(n == 1, 1.0, np.where(n == 2, 0.5, w))
    if model == "w_shaped":
        key = first | last | (pos == (n - 1) // 2)  # the middle: the earlier of two if even
        w = np.where(key, 0.3, 0.1 / np.maximum(n - 3, 1))
        w = np.where(n == 3, 0.3 + 0.1 / 3, w)  # three touches: the 10% goes to all three
        return np.where(n == 1, 1.0, np.where(n == 2, 0.5, w))
    raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")


def _decay(paths: Paths, half_life_days: float) -> np.ndarray:
    """2^(−age / half-life) per touch, normalized per path. Ages are taken relative to the
    path's newest touch first, which leaves the ratios alone and keeps old paths from
    underflowing to 0/0."""
    if paths.age_days is None:
        raise AbmError("time_decay needs touch times: these paths have no touch ages (a "
                       "path file has none); build them with Paths.from_arrays(..., "
                       "age_days=...)")  # fmt: skip
    if not half_life_days > 0:
        raise AbmError(f"time_decay: half_life_days must be more than 0, not {half_life_days}")
    if paths.channel.size == 0:
        return np.zeros(0)
    newest = np.minimum.reduceat(paths.age_days, paths.offsets[:-1])
    age = paths.age_days - np.repeat(newest, paths.lengths)
    raw = np.exp2(-age / half_life_days)
    return raw / np.repeat(np.add.reduceat(raw, paths.offsets[:-1]), paths.lengths)


def heuristic(paths: Paths, model: str, *, half_life_days: float = 7.0) -> Credit:
    """Credit by a rule-based model: each path's conversions and value split by its touches'
    shares, summed per channel (one bincount over every touch of every path)."""
    shares = touch_weights(paths, model, half_life_days=half_life_days)
    path_of = paths.path_of
    k = len(paths.channels)
    conv = np.bincount(paths.channel, shares * paths.conversions[path_of], minlength=k)
    value = np.bincount(paths.channel, shares * paths.value[path_of], minlength=k)
    return Credit(model, paths.channels, conv, value)


# -- Markov ------------------------------------------------------------------------------------
def transitions(paths: Paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of the first-order chain: start → channel (k), channel → channel (k × k), and
    channel → (conversion, null) (k × 2), every path weighted by how many journeys took it."""
    k = len(paths.channels)
    total = paths.conversions + paths.nulls
    start = np.bincount(paths.channel[paths.offsets[:-1]], total, minlength=k)
    src, dst, weight = _moves(paths.channel, paths.path_of, total)
    between = np.bincount(src * k + dst, weight, minlength=k * k).reshape(k, k)
    last = paths.channel[paths.offsets[1:] - 1]
    ends = np.stack([np.bincount(last, paths.conversions, minlength=k),
                     np.bincount(last, paths.nulls, minlength=k)], axis=1)  # fmt: skip
    return start, between, ends


def _moves(states: np.ndarray, path_of: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """Consecutive (from, to) pairs inside each path and the weight of their path."""
    inside = path_of[1:] == path_of[:-1]
    return states[:-1][inside], states[1:][inside], weight[path_of[:-1][inside]]


def conversion_probability(start: np.ndarray, between: np.ndarray, ends: np.ndarray,
                           removed: int | None = None) -> float:  # fmt: skip
    """P(a journey from the start is absorbed in conversion), exactly: x = (I − Q)⁻¹ r with
    Q and r the transition probabilities among channels and into conversion; a removed channel
    absorbs into null."""
    out = between.sum(axis=1) + ends.sum(axis=1)
    safe = np.where(out > 0, out, 1.0)
    q = between / safe[:, None]
    r = ends[:, 0] / safe
    if removed is not None:
        q = q.copy()
        r = r.copy()
        q[removed, :] = 0.0
        r[removed] = 0.0
    x = np.linalg.solve(np.eye(len(r)) - q, r)
    p0 = start / start.sum() if start.sum() > 0 else start
    return float(p0 @ x)


@dataclass(frozen=True, eq=False)
class Chain:
    """The absorbing chain of a Markov model of order k: its states are the last k channels of
    a journey (fewer at the start of a journey shorter than k). `members[s]` the channels of
    state s (−1 pads), the journeys starting in each state, the moves between states (a state
    repeated back to back is one visit: that changes no absorption probability), and per state
    the journeys that converted or ended right after it, with their conversion value."""

    members: np.ndarray
    start: np.ndarray
    between: sp.csr_matrix
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray


def chain(paths: Paths, order: int = 1) -> Chain:
    """The chain of `order` over the paths (as the reference implementation builds it: a path of
    n ≥ k touches passes the n − k + 1 windows of k channels, a shorter path is one state)."""
    if order < 1:
        raise AbmError(f"markov: order must be 1 or more, not {order}")
    k, total = len(paths.channels), paths.conversions + paths.nulls
    lengths, touches = paths.lengths, paths.channel.size
    windows = np.maximum(lengths - order + 1, 1)
    win_path = np.repeat(np.arange(len(paths)), windows)
    first_window = np.cumsum(windows) - windows
    at = np.repeat(paths.offsets[:-1] - first_window, windows) + np.arange(int(windows.sum()))
    width = np.minimum(np.repeat(lengths, windows), order)
    columns = [np.where(j < width, paths.channel[np.minimum(at + j, max(touches - 1, 0))], -1)
               for j in range(order)]  # fmt: skip
    code, bound = np.zeros(at.size, np.int64), 1
    for column in columns:
        if bound * (k + 1) >= 1 << 62:  # renumber densely before the code could overflow
            code, bound = _dense(code, bound)
        code, bound = code * (k + 1) + column + 1, bound * (k + 1)
    state, _ = _dense(code, bound)
    keep = np.ones(at.size, bool)
    keep[1:] = (state[1:] != state[:-1]) | (win_path[1:] != win_path[:-1])
    state, win_path = state[keep], win_path[keep]
    n_states = int(state.max()) + 1 if state.size else 0
    members = np.full((n_states, order), -1, np.int64)
    for j, column in enumerate(columns):
        members[state, j] = column[keep]
    visits = np.cumsum(np.bincount(win_path, minlength=len(paths)))
    first_state, last_state = state[visits - np.diff(np.r_[0, visits])], state[visits - 1]
    src, dst, weight = _moves(state, win_path, total)
    pair, _ = _dense(src * max(n_states, 1) + dst, n_states * n_states)
    pair_weight = np.bincount(pair, weight)
    first_of_pair = np.zeros(pair_weight.size, np.int64)
    first_of_pair[pair] = np.arange(pair.size)
    between = sp.csr_matrix((pair_weight, (src[first_of_pair], dst[first_of_pair])),
                            shape=(n_states, n_states))  # fmt: skip
    converted = np.where(paths.conversions > 0, paths.value, 0.0)
    return Chain(members, np.bincount(first_state, total, minlength=n_states), between,
                 np.bincount(last_state, paths.conversions, minlength=n_states),
                 np.bincount(last_state, converted, minlength=n_states),
                 np.bincount(last_state, paths.nulls, minlength=n_states))  # fmt: skip


def _dense(code: np.ndarray, bound: int) -> tuple[np.ndarray, int]:
    """Codes renumbered 0..m−1 (m distinct), by a lookup table when the codes are small, else
    by sorting."""
    if bound <= LOOKUP_STATES:
        seen = np.zeros(bound + 1, np.int64)
        seen[code] = 1
        number = np.cumsum(seen) - 1
        return number[code], int(seen.sum())
    unique, inverse = np.unique(code, return_inverse=True)
    return inverse.astype(np.int64).ravel(), int(unique.size)


def removal_effects(c: Chain, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, 1 − P(conversion without it) / P(conversion), and the same for the expected
    conversion value: p0ᵀ (I − Q)⁻¹ [r, r_v] over the states, Q the moves among states, r the
    chance to convert next, r_v that chance times the mean value of a conversion from the
    state; removing a channel drops every state that holds it (their visits lead to null).

    Up to `DENSE_STATES` states: one dense solve per channel. Beyond (higher orders), sparse LU
    fills in badly (the states form a de Bruijn-like graph: 120 s and 100M entries for 22k
    states), so the journeys' mass is pushed through the sparse chain for every removal at
    once until what is still in transit is below `TRANSIT_TOLERANCE` — that mass bounds the
    error, so the result is exact to that bound, and nothing is simulated. A chain that keeps
    its mass longer than `MAX_STEPS` moves is solved by sparse LU instead."""
    out = np.asarray(c.between.sum(axis=1)).ravel() + c.conversions + c.nulls
    safe = np.where(out > 0, out, 1.0)
    q = sp.csr_matrix(sp.diags(1.0 / safe) @ c.between)
    rhs = np.stack([c.conversions / safe, c.value / safe], axis=1)
    p0 = c.start / c.start.sum() if c.start.sum() > 0 else c.start
    keep = np.ones((len(safe), k + 1), bool)  # column 0: nothing removed; 1 + c: c removed
    for j in range(c.members.shape[1]):
        state = np.flatnonzero(c.members[:, j] >= 0)
        keep[state, 1 + c.members[state, j]] = False
    found = None if len(safe) <= DENSE_STATES else _propagate(q, rhs, p0, keep)
    if found is None:
        system = sp.csr_matrix(sp.identity(len(safe)) - q)
        found = np.zeros((k + 1, 2))
        for col in range(k + 1):
            kept = np.flatnonzero(keep[:, col])
            if kept.size:
                found[col] = p0[kept] @ _solve(system[kept][:, kept], rhs[kept])
    base = found[0]
    effect = np.where(base > 0, 1 - found[1:] / np.where(base > 0, base, 1), 0.0)
    return effect[:, 0], effect[:, 1]


def _propagate(q: sp.csr_matrix, rhs: np.ndarray, p0: np.ndarray,
               keep: np.ndarray) -> np.ndarray | None:  # fmt: skip
    """Σₜ p0ᵀ Qₖₑₑₚᵗ [r, r_v] for every column of `keep` at once, stopped when the mass still in
    transit can add less than `TRANSIT_TOLERANCE` (relative) to any sum; None if that takes
    more than `MAX_STEPS` moves."""
    moves = q.T.tocsr()
    mass = np.where(keep, p0[:, None], 0.0)
    found = rhs.T @ mass  # (2, columns)
    most = rhs.max(axis=0)
    for _ in range(MAX_STEPS):
        mass = (moves @ mass) * keep
        found += rhs.T @ mass
        transit = mass.sum(axis=0)
        if (np.outer(most, transit) <= TRANSIT_TOLERANCE * found[:, :1]).all():
            return np.asarray(found.T)
    return None


def _solve(a: sp.csr_matrix, b: np.ndarray) -> np.ndarray:
    if a.shape[0] <= DENSE_STATES:
        return np.linalg.solve(a.toarray(), b)
    return splu(a.tocsc()).solve(b)


def markov(paths: Paths, *, order: int = 1) -> Credit:
    """Credit by removal effects of a Markov chain of `order`, computed exactly.

    Conversions: the total split in proportion to the removal effects. Value: the total value
    split in proportion to the **value removal effects** — the share of the expected conversion
    value lost when the channel is removed, a conversion's value being the mean value per
    conversion of the journeys that converted from the same last state. This is what the
    reference implementation (ChannelAttribution's `markov_model`, `total_conversion_value`)
    estimates by simulation: it draws a converting path's value from the values of the paths
    converting from its last state and shares the summed values of the paths through each
    channel. A channel that only shows up on low-value conversions gets less of the value than
    of the conversions."""
    k = len(paths.channels)
    if len(paths) == 0:
        return Credit("markov", paths.channels, np.zeros(k), np.zeros(k), np.zeros(k),
                      np.zeros(k))  # fmt: skip
    with threadpool_limits(1):  # small dense solves: one BLAS thread beats several sharing cores
        effect, value_effect = removal_effects(chain(paths, order), k)
    conv = _split(effect, paths.conversions.sum())
    value = _split(value_effect if value_effect.sum() > 0 else effect, paths.value.sum())
    return Credit("markov", paths.channels, conv, value, effect, value_effect)


def _split(weights: np.ndarray, total: float) -> np.ndarray:
    """`total` in proportion to `weights` (nothing to split: zeros)."""
    s = weights.sum()
    return weights / s * total if s > 0 else np.zeros_like(weights)


# -- Shapley -----------------------------------------------------------------------------------
def shapley(paths: Paths, *, max_exact: int = 15, samples: int = 2000, seed: int = 0) -> Credit:
    """Shapley values of the game v(S) = conversions (and value) of the journeys whose channels
    all lie in S, S a set of channels.

    Efficiency: the credit adds up to v(all channels) − v(∅) = every conversion and all value,
    since each journey has at least one channel. Up to `max_exact` channels the values are
    exact: the conversions of each distinct channel set (a bitmask) are summed over all 2^k
    coalitions by the subset-sum (zeta) transform, and the Shapley formula is applied
    coalition-wise. Beyond, they are the mean marginal contributions over `samples` random
    orderings of the channels (seeded); in one ordering a journey's conversions go to the
    channel of its set that comes last — the one that completes it — so every ordering, and
    the mean, adds up exactly.

    For this game the exact values also have a closed form (it is a sum of unanimity games):
    each journey's conversions split equally among its distinct channels. A game over
    conversion *rates* (counting the journeys that did not convert) was tried and rejected: on
    account journeys it gave a channel present in few, well-converting journeys more
    conversions than it ever took part in, and nothing to the channel present in most."""
    k = len(paths.channels)
    if not (1 <= max_exact <= MAX_EXACT) or samples < 1:
        raise AbmError(f"shapley: max_exact must lie in 1..{MAX_EXACT} (the exact values walk "
                       f"2^k coalitions) and samples be 1 or more")  # fmt: skip
    amounts = np.stack([paths.conversions, paths.value])
    if k == 0 or len(paths) == 0:
        credit = np.zeros((2, k))
    elif k <= max_exact:
        credit = _shapley_exact(paths, amounts)
    else:
        credit = _shapley_sampled(paths, amounts, samples, seed)
    return Credit("shapley", paths.channels, credit[0], credit[1])


def _shapley_exact(paths: Paths, amounts: np.ndarray) -> np.ndarray:
    k = len(paths.channels)
    mask = np.bitwise_or.reduceat(np.left_shift(np.int64(1), paths.channel), paths.offsets[:-1])
    game = np.stack([np.bincount(mask, a, minlength=1 << k) for a in amounts])
    for i in range(k):  # zeta transform: game[S] = Σ over T ⊆ S of the journeys with set T
        view = game.reshape(2, -1, 2, 1 << i)
        view[:, :, 1, :] += view[:, :, 0, :]
    size = np.zeros(1 << k, np.int64)
    for i in range(k):
        size += (np.arange(1 << k) >> i) & 1
    weight = np.array([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k)
                       for s in range(k)])  # fmt: skip
    credit = np.zeros((2, k))
    for i in range(k):  # Σ over S ∌ i of |S|!(k−|S|−1)!/k! · (v(S ∪ i) − v(S))
        view = game.reshape(2, -1, 2, 1 << i)
        w = weight[size.reshape(-1, 2, 1 << i)[:, 0, :]]
        credit[:, i] = ((view[:, :, 1, :] - view[:, :, 0, :]) * w).sum(axis=(1, 2))
    return credit


def _shapley_sampled(paths: Paths, amounts: np.ndarray, samples: int, seed: int) -> np.ndarray:
    k = len(paths.channels)
    path_of = paths.path_of
    words = [np.bitwise_or.reduceat(np.where(paths.channel // 62 == w, np.left_shift(
        np.int64(1), paths.channel % 62), np.int64(0)), paths.offsets[:-1])
        for w in range((k + 61) // 62)]  # fmt: skip
    _, set_of = np.unique(np.stack(words, axis=1), axis=0, return_inverse=True)
    set_of = set_of.ravel()
    n_sets = int(set_of.max()) + 1
    pair = np.unique(set_of[path_of] * k + paths.channel)  # distinct (set, channel), by set
    member_set, member = pair // k, pair % k
    set_start = np.r_[0, np.flatnonzero(np.diff(member_set)) + 1]
    set_amount = np.stack([np.bincount(set_of, a, minlength=n_sets) for a in amounts])
    rng = np.random.default_rng(seed)
    batch = max(1, min(samples, 4_000_000 // max(member.size, 1)))
    wins = np.zeros(member.size)
    done = 0
    while done < samples:
        m = min(batch, samples - done)
        rank = np.argsort(rng.random((m, k)), axis=1).argsort(axis=1)  # channel → place
        ranked = rank[:, member]
        last = np.maximum.reduceat(ranked, set_start, axis=1)
        wins += (ranked == last[:, member_set]).sum(axis=0)
        done += m
    share = wins / samples
    return np.stack([np.bincount(member, share * a[member_set], minlength=k) for a in set_amount])


# -- one entry point ---------------------------------------------------------------------------
def applicable_models(paths: Paths) -> tuple[str, ...]:
    """The models these paths can run: all but time_decay when the touches have no ages."""
    return tuple(m for m in MODELS if m != "time_decay" or paths.age_days is not None)


def attribute(
    paths: Paths,
    model: str,
    *,
    half_life_days: float = 7.0,
    order: int = 1,
    max_exact: int = 15,
    samples: int = 2000,
    seed: int = 0,
) -> Credit:
    """Credit per channel by `model` (one of `MODELS`). Options apply to their model only:
    `half_life_days` to time_decay, `order` to markov, `max_exact`, `samples` and `seed` to
    shapley."""
    if model == "markov":
        return markov(paths, order=order)
    if model == "shapley":
        return shapley(paths, max_exact=max_exact, samples=samples, seed=seed)
    if model in HEURISTICS:
        return heuristic(paths, model, half_life_days=half_life_days)
    raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
