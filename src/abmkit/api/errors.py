"""One JSON error shape for every failure of the API, pinned by a test:

    {"error": {"status": 404, "code": "not_found", "message": "no account …",
               "field": null, "problems": []}}

`field` names the parameter or body field at fault when there is one; `problems` lists every
field (validation) or file/row/column (input) problem found. A user's mistake never returns a
traceback; an unexpected failure is logged with its traceback and answered with a 500 that says
only that.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from abmkit.errors import (
    AbmError,
    AccessError,
    ConfigError,
    GuardrailError,
    InputError,
    NotFoundError,
)

log = logging.getLogger("abmkit.api")

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media",
         422: "invalid", 429: "rate_limited", 500: "internal", 503: "unavailable"}  # fmt: skip


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    field: str | None = None
    problems: list[dict[str, Any]] = []


class ErrorBody(BaseModel):
    """What every failed request answers."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": CODES[code].replace("_", " ")}
    for code in (400, 401, 403, 404, 422, 429)
}
"""For the OpenAPI document: the error responses a route may give."""

HtmlHandler = Any
"""A callable (request, status, message) -> Response | None the web UI registers, to answer
browsers with a page (or a redirect to sign in) instead of JSON."""


def error_response(status: int, message: str, *, field: str | None = None,
                   problems: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body = ErrorBody(error=ErrorDetail(status=status, code=CODES.get(status, "error"),
                                       message=message, field=field,
                                       problems=problems or []))  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def status_of(exc: AbmError) -> int:
    if isinstance(exc, AccessError):
        return exc.status
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, GuardrailError):
        return 409
    if isinstance(exc, ConfigError):
        return 500 if "workspace" in str(exc).lower() else 400
    return 400


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one shape."""

    def respond(request: Request, status: int, message: str, **kw: Any) -> Response:
        html = getattr(request.app.state, "html_errors", None)
        if html is not None:
            page = html(request, status, message)
            if page is not None:
                return page
        return error_response(status, message, **kw)

    @app.exception_handler(AbmError)
    async def _abm(request: Request, exc: AbmError) -> Response:
        problems = ([{"file": p.file, "row": p.row, "column": p.column, "reason": p.reason}
                     for p in exc.problems] if isinstance(exc, InputError) else None)  # fmt: skip
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return respond(request, status_of(exc), first, problems=problems)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}
                    for e in exc.errors()]  # fmt: skip
        head = problems[0] if problems else {"field": None, "message": "invalid request"}
        message = f"{head['field']}: {head['message']}" if head["field"] else str(head["message"])
        return respond(request, 422, message, field=head["field"], problems=problems)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "")
        message = str(message)
        return respond(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the server log has the details")


def _field(loc: tuple | list) -> str | None:
    """`("query", "tier")` → "tier"; `("body", "note")` → "note"."""
    parts = [str(p) for p in loc if p not in ("query", "body", "path", "header", "cookie")]
    return ".".join(parts) or None
