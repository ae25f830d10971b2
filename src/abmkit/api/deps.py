"""What a route handler needs besides its permission: the workspace's `Abm`, and a way to run a
service on it without blocking the event loop.

The embedded warehouse (one DuckDB connection) serves one query at a time, so services that
read or write it run under the app's gate, one after another, in the thread pool; the public
endpoints answer from memory and never wait for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from abmkit.app import Abm

T = TypeVar("T")


def abm_of(request: Request) -> Abm:
    return request.app.state.abm


async def call(request: Request, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`service(*args, **kwargs)` in the thread pool, holding the warehouse gate."""
    gate = request.app.state.gate

    def locked() -> T:
        with gate:
            return service(*args, **kwargs)

    return await run_in_threadpool(locked)
