"""Turning a page's data into HTML: the Jinja2 environment, its filters (every number through
`abmkit.measure.formatting`), the headers every page carries, and the URLs of the static assets.

Pages send a Content-Security-Policy that lets them load scripts, styles and images from this
server only, and connect nowhere else: the UI works offline from the internet. Vega needs
`'unsafe-eval'` (it compiles its expressions to functions) and writes inline styles; nothing
else is relaxed, and no page carries an inline script (chart specs travel as JSON data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from abmkit import __version__
from abmkit.measure.formatting import MISSING, format_kind, format_value, is_missing

CSP = "; ".join((
    "default-src 'self'", "script-src 'self' 'unsafe-eval'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'",
    "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
))  # fmt: skip
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}  # fmt: skip
PAGE_HEADERS = SECURITY_HEADERS | {"Cache-Control": "no-store"}
"""Pages show a signed-in person's data: never kept by a shared cache or the back button."""

VEGA_ASSET = "vendor/vega.js"


@cache
def asset_version(name: str) -> str:
    """A short hash of a static file (or of the Vega bundle's version), for cache-busting URLs
    that may then be cached for a year."""
    if name == VEGA_ASSET:
        from abmkit.measure.charts import vegalite_version

        return hashlib.sha256(f"{vegalite_version()}-{__version__}".encode()).hexdigest()[:12]
    data = resources.files("abmkit.web").joinpath("static", name).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def asset(name: str) -> str:
    return f"/static/{name}?v={asset_version(name)}"


# -- filters -------------------------------------------------------------------------------------
def number(value: Any, kind: str = "count") -> str:
    """A value written as the report's formatter writes its kind ("dollars", "share", …)."""
    return format_kind(kind, value)  # type: ignore[arg-type]


def when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if is_missing(value) or value in ("", None):
        return MISSING
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return value.strftime(fmt)
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def label(value: Any) -> str:
    """A key made readable: "economic_buyer" → "Economic buyer"."""
    if is_missing(value):
        return MISSING
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


def tier_badge(tier: Any) -> Markup:
    text = format_value("tier", "none" if is_missing(tier) or tier is None else tier)
    css = "t" + str(tier).removesuffix(".0") if text != "No tier" else "tnone"
    return Markup('<span class="badge tier {}">{}</span>').format(css, text)


def stage_badge(stage: Any) -> Markup:
    if is_missing(stage) or not stage:
        return Markup('<span class="badge stage">{}</span>').format(MISSING)
    css = "s-" + str(stage).lower().replace(" ", "-")
    return Markup('<span class="badge stage {}">{}</span>').format(css, stage)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=False)


def chart_data(spec: dict[str, Any] | None) -> str:
    """A chart spec as JSON for a `data-spec` attribute (autoescaping quotes it safely)."""
    return json.dumps(spec, separators=(",", ":"), allow_nan=False)


def with_query(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return request.url.path + ("?" + urlencode(params) if params else "")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("abmkit.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.filters.update(number=number, when=when, label=label, tier=tier_badge,
                       stage=stage_badge, pretty_json=pretty_json, chart=chart_data,
                       fmt=format_value)  # fmt: skip
    env.globals.update(asset=asset, version=__version__, VEGA=VEGA_ASSET, with_query=with_query)
    return env


ENV = _environment()


def page(request: Request, template: str, *, status: int = 200,
         headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:  # fmt: skip
    """A template rendered for this request, with the page headers."""
    who = getattr(request.state, "principal", None)
    html = ENV.get_template(template).render(request=request, who=who, path=request.url.path,
                                             **context)  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS | (headers or {}))
