"""Attribution over journeys: who gets the credit for a conversion (an opportunity, a deal).

Journeys are aggregated paths — a sequence of channels, the conversions and the conversion value
they ended in, and how many ended in nothing — the format of the reference implementation's
`Data.csv` (`path;total_conversions;total_conversion_value;total_null`, channels joined by
` > `). Every model is array work over the distinct paths, never a loop over journeys:

- **first**, **last**: the whole conversion to the path's first or last touch;
- **linear**: an equal share to every touch (a channel touched twice gets two shares);
- **u_shaped**: 40% first, 40% last, 20% spread over the touches between (one touch: all of it;
  two: half each);
- **w_shaped**: 30% first, 30% to the middle touch (the moment the journey turned, when no
  stage marks it), 30% last, 10% spread over the rest;
- **markov**: first-order Markov chain over the channels with absorbing conversion and null
  states; a channel's credit is proportional to its **removal effect** — how much the chance of
  conversion from the start falls when the channel is removed (its visits end in null) —
  computed exactly by solving the absorbing chain, not by simulating paths.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from abmkit.errors import InputError, Problem

Model = Literal["first", "last", "linear", "u_shaped", "w_shaped", "markov"]
HEURISTICS = ("first", "last", "linear", "u_shaped", "w_shaped")
MODELS: tuple[str, ...] = (*HEURISTICS, "markov")
PATH_HEADER = ("path", "total_conversions", "total_conversion_value", "total_null")
SEPARATOR = ">"


@dataclass(frozen=True)
class Paths:
    """Distinct paths: `touches[i]` the channel indices of path i in order."""

    channels: tuple[str, ...]
    touches: tuple[np.ndarray, ...]
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray

    @classmethod
    def of(cls, rows: Iterable[tuple[list[str], float, float, float]]) -> Paths:
        """From (channels of the path, conversions, value, nulls) rows; channels are numbered
        in order of first appearance."""
        index: dict[str, int] = {}
        touches, conv, value, nulls = [], [], [], []
        for names, c, v, n in rows:
            touches.append(np.array([index.setdefault(x, len(index)) for x in names], np.int64))
            conv.append(c)
            value.append(v)
            nulls.append(n)
        return cls(tuple(index), tuple(touches), np.array(conv, float), np.array(value, float),
                   np.array(nulls, float))  # fmt: skip


@dataclass(frozen=True)
class Credit:
    """Conversions and value credited to each channel by one model."""

    model: str
    channels: tuple[str, ...]
    conversions: np.ndarray
    value: np.ndarray
    removal_effect: np.ndarray | None = None

    def rows(self) -> list[dict]:
        out = [{"channel": c, "conversions": float(self.conversions[i]),
                "value": float(self.value[i])} for i, c in enumerate(self.channels)]  # fmt: skip
        if self.removal_effect is not None:
            for i, row in enumerate(out):
                row["removal_effect"] = float(self.removal_effect[i])
        return out


def read_paths(path: Path, sep: str = SEPARATOR) -> Paths:
    """An aggregated-path file (`path;total_conversions;total_conversion_value;total_null`, a
    header row; `total_null` may be missing); every bad cell is reported with its row and
    column."""
    try:
        return _read_paths(path, sep)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError([Problem(str(path), None, None, f"cannot be read: {reason}")]) from None


def _read_paths(path: Path, sep: str) -> Paths:
    problems: list[Problem] = []
    rows: list[tuple[list[str], float, float, float]] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        header = [h.strip() for h in next(reader, [])]
        missing = [h for h in PATH_HEADER[:3] if h not in header]
        if missing:
            raise InputError([Problem(str(path), 1, None, f"the header lacks {missing}; it must "
                                      f"be {';'.join(PATH_HEADER)}")])  # fmt: skip
        at = {h: header.index(h) for h in PATH_HEADER if h in header}
        for n, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            row = _row(path, n, cells, at, sep, problems)
            if row is not None:
                rows.append(row)
    if problems:
        raise InputError(problems)
    if not rows:
        raise InputError([Problem(str(path), None, None, "no paths")])
    return Paths.of(rows)


def _row(path: Path, n: int, cells: list[str], at: dict[str, int], sep: str,
         problems: list[Problem]) -> tuple[list[str], float, float, float] | None:  # fmt: skip
    def cell(name: str) -> str:
        i = at.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    channels = [c.strip() for c in cell("path").split(sep)]
    if not cell("path") or any(not c for c in channels):
        problems.append(Problem(str(path), n, "path", "an empty channel in the path"))
        return None
    numbers = []
    for name in PATH_HEADER[1:]:
        text = cell(name) or ("0" if name == "total_null" else "")
        try:
            number = float(text)
        except ValueError:
            problems.append(Problem(str(path), n, name, f"{text!r} is not a number"))
            return None
        if number < 0 or not np.isfinite(number):
            problems.append(Problem(str(path), n, name, f"{text!r} must be 0 or more"))
            return None
        numbers.append(number)
    return channels, numbers[0], numbers[1], numbers[2]


# -- heuristics ------------------------------------------------------------------------------
def _weights(length: int, model: str) -> np.ndarray:
    """Each touch's share of a path of `length` touches."""
    w = np.zeros(length)
    if model == "first":
        w[0] = 1
    elif model == "last":
        w[-1] = 1
    elif model == "linear" or length == 1:
        w[:] = 1 / length
    elif model == "u_shaped":
        if length == 2:
            w[:] = 0.5
        else:
            w[0] = w[-1] = 0.4
            w[1:-1] = 0.2 / (length - 2)
    elif model == "w_shaped":
        if length == 2:
            w[:] = 0.5
        else:
            middle = length // 2 if length % 2 else length // 2 - 1
            w[0], w[middle], w[-1] = 0.3, 0.3, 0.3
            rest = [i for i in range(length) if i not in (0, middle, length - 1)]
            if rest:
                w[rest] = 0.1 / len(rest)
            else:  # three touches: the 10% goes to the three equally
                w += 0.1 / length
    else:
        raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    return w


def heuristic(paths: Paths, model: str) -> Credit:
    """Credit by a rule-based model: each path's conversions and value split by its touches'
    shares, summed per channel (one bincount over every touch of every path)."""
    lengths = np.array([len(t) for t in paths.touches])
    channel = np.concatenate(paths.touches)
    shares = np.concatenate([_weights(n, model) for n in lengths])
    path_of = np.repeat(np.arange(len(lengths)), lengths)
    k = len(paths.channels)
    conv = np.bincount(channel, shares * paths.conversions[path_of], minlength=k)
    value = np.bincount(channel, shares * paths.value[path_of], minlength=k)
    return Credit(model, paths.channels, conv, value)


# -- Markov ----------------------------------------------------------------------------------
def transitions(paths: Paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of the first-order chain: start → channel (k), channel → channel (k × k), and
    channel → (conversion, null) (k × 2), every path weighted by how many journeys took it."""
    k = len(paths.channels)
    total = paths.conversions + paths.nulls
    start = np.bincount([t[0] for t in paths.touches], total, minlength=k)
    lengths = np.array([len(t) for t in paths.touches])
    channel = np.concatenate(paths.touches)
    weight = np.repeat(total, lengths)
    following = np.ones(len(channel), bool)
    following[np.cumsum(lengths) - 1] = False  # the last touch of each path
    src, dst = channel[:-1][following[:-1]], channel[1:][following[:-1]]
    between = np.zeros((k, k))
    np.add.at(between, (src, dst), weight[:-1][following[:-1]])
    last = np.array([t[-1] for t in paths.touches])
    ends = np.stack([np.bincount(last, paths.conversions, minlength=k),
                     np.bincount(last, paths.nulls, minlength=k)], axis=1)  # fmt: skip
    return start, between, ends


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


def markov(paths: Paths) -> Credit:
    """Credit by the removal effects of a first-order Markov chain, computed exactly."""
    start, between, ends = transitions(paths)
    base = conversion_probability(start, between, ends)
    k = len(paths.channels)
    effect = np.zeros(k)
    if base > 0:
        for c in range(k):
            effect[c] = 1 - conversion_probability(start, between, ends, removed=c) / base
    share = effect / effect.sum() if effect.sum() > 0 else np.full(k, 1 / k)
    return Credit(
        "markov", paths.channels, share * paths.conversions.sum(), share * paths.value.sum(), effect
    )


def attribute(paths: Paths, model: str) -> Credit:
    if model == "markov":
        return markov(paths)
    if model in HEURISTICS:
        return heuristic(paths, model)
    raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
