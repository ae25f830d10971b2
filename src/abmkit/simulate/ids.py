"""Salesforce-style 18-character record ids, built vectorized and deterministically."""

from __future__ import annotations

import numpy as np

_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "u1")
_SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "u1")


def salesforce_ids(prefix: str, count: int, offset: int = 0) -> np.ndarray:
    """`count` ids like `0015g00000AbCdEFGH`: key prefix, pod, base62 counter, case checksum."""
    head = (prefix + "5g").encode()
    numbers = np.arange(offset, offset + count, dtype=np.int64) * 7919 + 104729
    digits = np.empty((count, 10), dtype="u1")
    for position in range(9, -1, -1):
        digits[:, position] = _BASE62[numbers % 62]
        numbers //= 62
    body = np.concatenate([np.tile(np.frombuffer(head, "u1"), (count, 1)), digits], axis=1)
    upper = (body >= ord("A")) & (body <= ord("Z"))
    weights = np.array([1, 2, 4, 8, 16], dtype=np.int64)
    checks = [_SUFFIX[(upper[:, 5 * c : 5 * c + 5] * weights).sum(axis=1)] for c in range(3)]
    full = np.concatenate([body, np.stack(checks, axis=1)], axis=1)
    return np.ascontiguousarray(full).view("S18").ravel().astype(str).astype(object)
