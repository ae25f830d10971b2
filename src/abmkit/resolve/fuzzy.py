"""Fuzzy matching of normalized company names, blocked so large lists stay feasible.

Threshold semantics: scores are RapidFuzz similarities from 0 to 100 (100 = identical after
the scorer's own token handling). A pair is a match when ``score >= threshold``; scores are
returned unchanged. ``threshold=90`` with ``token_sort_ratio`` accepts about one edit in a
20-character name and word-order changes, and rejects ``acme`` vs ``apex`` (50).

Inputs must already be normalized (see :func:`abmkit.resolve.names.normalize_company_name`);
no further processing is applied. Blank names (``None`` or ``""``) never match.

Speed: identical names are matched through a hash lookup first; the rest are compared only
within blocks, in chunks of at most ``CHUNK_CELLS`` scores so memory stays bounded. By default
(:func:`block_keys`) a name sits in two blocks: the first character of the name and the first
character of its alphabetically first word (the start of what ``token_sort_ratio`` compares).
Two names are compared when they share either key, so a typo is missed only when it changes
both first characters, or when the name is a single word and its first character is wrong.
``block_key=None`` compares everything (exact, slower).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

__all__ = ["DuplicatePair", "NameMatch", "block_keys", "find_duplicate_pairs", "match_names"]

Scorer = str | Callable[..., float]
BlockKey = Callable[[str], Iterable[str]] | None

CHUNK_CELLS = 4_000_000


class NameMatch(NamedTuple):
    """The best choice for one query: indices into the inputs and the 0–100 score."""

    query_index: int
    choice_index: int
    score: float


class DuplicatePair(NamedTuple):
    """Two entries of one list (``i < j``) whose names score at or above the threshold."""

    i: int
    j: int
    score: float


def block_keys(name: str) -> set[str]:
    """Default blocking keys: first character of the name and of its alphabetically first word."""
    return {name[:1], min(name.split(), default=name)[:1]}


def _scorer(scorer: Scorer) -> Callable[..., float]:
    """Resolve a RapidFuzz scorer given by name (``"token_sort_ratio"``) or as a callable."""
    if callable(scorer):
        return scorer
    found = getattr(fuzz, scorer, None)
    if found is None or scorer.startswith("_"):
        raise ValueError(f"unknown rapidfuzz scorer: {scorer!r}")
    return found


def _distinct(names: Sequence[str | None]) -> dict[str, list[int]]:
    """Indices of each distinct non-blank name, in first-seen order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, name in enumerate(names):
        if name:
            groups[name].append(index)
    return groups


def _blocks(names: Sequence[str], block_key: BlockKey) -> dict[str, list[int]]:
    """Positions in ``names`` grouped by blocking key (one block when ``block_key`` is None)."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for position, name in enumerate(names):
        for key in block_key(name) if block_key else ("",):
            blocks[key].append(position)
    return blocks


def _best_in_block(
    queries: list[str], choices: list[str], scorer: Callable[..., float], threshold: float
) -> Iterator[tuple[int, int, float]]:
    """(query position, best choice position, score) for queries with a best at ≥ threshold."""
    rows = max(1, CHUNK_CELLS // len(choices))
    for start in range(0, len(queries), rows):
        scores = process.cdist(
            queries[start : start + rows],
            choices,
            scorer=scorer,
            score_cutoff=threshold,
            dtype=np.float64,
            workers=-1,
        )
        best = scores.argmax(axis=1)
        top = scores[np.arange(len(best)), best]
        for row in np.flatnonzero(top >= threshold):
            yield start + int(row), int(best[row]), float(top[row])


def _keep_best(
    best: dict[str, tuple[int, float]], query: str, choice_index: int, value: float
) -> None:
    """Record a candidate if it beats the query's best so far (ties: lower choice index)."""
    current = best.get(query)
    if current is None or (-value, choice_index) < (-current[1], current[0]):
        best[query] = (choice_index, value)


def match_names(
    queries: Sequence[str | None],
    choices: Sequence[str | None],
    threshold: float = 90.0,
    scorer: Scorer = "token_sort_ratio",
    *,
    block_key: BlockKey = block_keys,
) -> list[NameMatch]:
    """Best choice for each query scoring at or above ``threshold``, sorted by query index.

    Queries without such a choice are left out. An identical choice wins outright (score
    100); among equal scores the lowest choice index wins.
    """
    score = _scorer(scorer)
    exact = {name: indices[0] for name, indices in _distinct(choices).items()}
    choice_names = list(exact)
    query_groups = _distinct(queries)
    best: dict[str, tuple[int, float]] = {q: (exact[q], 100.0) for q in query_groups if q in exact}
    pending = [q for q in query_groups if q not in exact]
    choice_blocks = _blocks(choice_names, block_key)
    for key, positions in _blocks(pending, block_key).items():
        block = [choice_names[p] for p in choice_blocks.get(key, [])]
        if not block:
            continue
        block_queries = [pending[p] for p in positions]
        for row, col, value in _best_in_block(block_queries, block, score, threshold):
            _keep_best(best, block_queries[row], exact[block[col]], value)
    matches = [
        NameMatch(qi, ci, value) for name, (ci, value) in best.items() for qi in query_groups[name]
    ]
    return sorted(matches)


def _pairs_in_block(
    names: list[str], scorer: Callable[..., float], threshold: float
) -> Iterator[tuple[int, int, float]]:
    """(a, b, score) with a < b for positions in one block scoring at or above threshold."""
    rows = max(1, CHUNK_CELLS // len(names))
    for start in range(0, len(names), rows):
        scores = process.cdist(
            names[start : start + rows],
            names,
            scorer=scorer,
            score_cutoff=threshold,
            dtype=np.float64,
            workers=-1,
        )
        row_idx, col_idx = np.nonzero(scores >= threshold)
        for r, c in zip(row_idx.tolist(), col_idx.tolist(), strict=True):
            if c > start + r:
                yield start + r, c, float(scores[r, c])


def find_duplicate_pairs(
    names: Sequence[str | None],
    threshold: float = 90.0,
    scorer: Scorer = "token_sort_ratio",
    *,
    block_key: BlockKey = block_keys,
) -> list[DuplicatePair]:
    """Pairs ``(i, j, score)`` with ``i < j`` of entries in one list that look like duplicates.

    Identical names pair with score 100; others pair when their score is at or above
    ``threshold`` within a block. Sorted by ``(i, j)``.
    """
    score = _scorer(scorer)
    groups = _distinct(names)
    pairs = [
        DuplicatePair(i, j, 100.0)
        for indices in groups.values()
        for k, i in enumerate(indices)
        for j in indices[k + 1 :]
    ]
    distinct = list(groups)
    fuzzy: dict[tuple[str, str], float] = {}
    for positions in _blocks(distinct, block_key).values():
        block = [distinct[p] for p in positions]
        for a, b, value in _pairs_in_block(block, score, threshold):
            fuzzy[min(block[a], block[b]), max(block[a], block[b])] = value
    for (first, second), value in fuzzy.items():
        for i in groups[first]:
            pairs.extend(DuplicatePair(min(i, j), max(i, j), value) for j in groups[second])
    return sorted(pairs)
