"""The app factory: one `Abm` for the workspace, shared by every route, the web UI and the
background work, opened when the server starts and closed when it stops."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from abmkit import __version__
from abmkit.api import docs, errors
from abmkit.api.security import Limiter
from abmkit.app import Abm


def create_app(workspace: Path | str = ".", overrides: dict[str, Any] | None = None, *,
               abm: Abm | None = None) -> FastAPI:  # fmt: skip
    """The server over a workspace (or over an `Abm` already open, which the caller closes)."""
    owned = abm is None
    opened = abm if abm is not None else Abm.open(workspace, overrides)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from abmkit.api import public

        await public.start(app)  # the beacon's worker and the in-memory lookups
        try:
            yield
        finally:
            await public.stop(app)
            if owned:
                opened.close()

    app = FastAPI(title="abmkit", version=__version__, lifespan=lifespan,
                  description="Account-based marketing over your own warehouse: accounts and "
                  "their scores, the agent's actions, plays, models, reports; and the public "
                  "beacon, personalization and routing endpoints a website calls.",
                  docs_url=None, redoc_url=None, openapi_url="/v1/openapi.json",
                  swagger_ui_oauth2_redirect_url=None)  # fmt: skip
    app.state.abm = opened
    app.state.gate = threading.Lock()
    app.state.limiter = Limiter()
    errors.install(app)
    docs.install(app)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from abmkit.api import public
    from abmkit.api.routes import ROUTERS
    from abmkit.web import routes as web

    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    app.include_router(public.router, prefix="/v1")
    web.install(app)
