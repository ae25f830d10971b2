"""Named crash points of the executor's send path and of the beacon's worker, for tests that
kill them on purpose.

`ABMKIT_FAULT_CRASH_AT=<point>:<n>` makes the process SIGKILL itself the n-th time it reaches
`<point>` (n defaults to 1): no `finally`, no rollback, no flush, exactly what a power cut or
the kernel's out-of-memory killer leaves behind. Unset, `reached` does nothing.

The variable does not start with `ABM_`, because every `ABM_*` variable is read as a setting.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from abmkit.errors import ConfigError

ENV = "ABMKIT_FAULT_CRASH_AT"
EXECUTOR_POINTS = (
    "claimed",  # the claim is committed: the actions are `sending`, nothing has left
    "connected",  # the connector is about to hand the message over; the remote has not acked
    "acknowledged",  # the remote acknowledged (or the file is in place); the commit is not made
    "committed",  # the action is committed as sent (or dry_run)
)
BEACON_POINTS = (
    "beacon_written",  # a beacon batch's touches are stored; not re-scored, events not marked
    "beacon_acted",  # its actions are committed; its events are not marked processed
)
POINTS = EXECUTOR_POINTS + BEACON_POINTS

_reached: Counter[str] = Counter()


def armed(environ: dict[str, str] | os._Environ[str] | None = None) -> tuple[str, int] | None:
    """The point and count set in the environment, None when none is."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    if not value:
        return None
    point, _, count = value.partition(":")
    if point not in POINTS or not (count or "1").isdigit():
        raise ConfigError(f"{ENV}={value!r}: expected <point>:<n> with a point of {POINTS}")
    return point, int(count or "1")


def reached(point: str) -> None:
    """Count one pass through `point`; SIGKILL this process when it is the armed one."""
    target = armed()
    if target is None or target[0] != point:
        return
    _reached[point] += 1
    if _reached[point] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
