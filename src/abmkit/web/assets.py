"""The UI's static files under `/static/`: our stylesheet and script, the vendored htmx, and the
Vega bundle (Vega, Vega-Lite and vega-embed from the `vl-convert-python` wheel, built once per
process and kept gzipped in memory).

Every asset URL the pages write carries a hash of its content (`?v=…`), so a browser may keep
each for a year; a new release changes the URL. Static files hold no data and need no sign-in
(the sign-in page itself uses them).
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from abmkit.web.render import SECURITY_HEADERS, VEGA_ASSET

LONG_CACHE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=1)
def vega_bundle() -> tuple[bytes, bytes]:
    """The Vega bundle as UTF-8 and gzipped (built once: it takes a moment)."""
    from abmkit.measure.html import javascript_bundle

    raw = javascript_bundle().encode("utf-8")
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


class Assets(StaticFiles):
    """The package's `static/` folder, plus the Vega bundle, with long cache headers."""

    def __init__(self) -> None:
        super().__init__(directory=str(resources.files("abmkit.web") / "static"))

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == VEGA_ASSET:
            response = await self._vega(scope)
        else:
            response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        if response.status_code == 200:
            response.headers["Cache-Control"] = LONG_CACHE
        return response

    async def _vega(self, scope: Scope) -> Response:
        raw, packed = await run_in_threadpool(vega_bundle)
        accepts = dict(scope.get("headers") or []).get(b"accept-encoding", b"")
        headers = {"Vary": "Accept-Encoding"}
        if b"gzip" in accepts:
            headers["Content-Encoding"] = "gzip"
            raw = packed
        return Response(raw, media_type="text/javascript; charset=utf-8", headers=headers)
