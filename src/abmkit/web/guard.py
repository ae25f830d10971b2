"""What keeps the UI's doors: the sign-in form's own CSRF check, where a browser may be sent
after signing in, and the pages a browser sees instead of the API's JSON errors.

The sign-in form is posted before there is a session, so the session's CSRF token cannot guard
it; it uses a double-submit cookie instead: the form page sets a random token in a cookie
(SameSite=Strict, HttpOnly) and in a hidden field, and a sign-in is accepted only when the two
agree, which a page on another site cannot arrange. Every other form carries the session's
token (`require` checks it).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from abmkit.api.security import secure_cookie
from abmkit.errors import AccessError
from abmkit.web import render

LOGIN_CSRF_COOKIE = "abm_login_csrf"
LOGIN_CSRF_MAX_AGE = 2 * 3600


def login_token() -> str:
    return secrets.token_urlsafe(32)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    """The sign-in form's double-submit cookie (HttpOnly, SameSite=Strict; Secure as the
    session cookie is)."""
    secure = secure_cookie(request, request.app.state.abm.settings.server)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=LOGIN_CSRF_MAX_AGE, httponly=True,
                        samesite="strict", path="/", secure=secure)  # fmt: skip


def check_login_token(request: Request, sent: str | None) -> None:
    """The form's token must equal the cookie's: else the sign-in did not come from our form."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise AccessError("the sign-in form expired or did not come from this site; "
                          "please try again")  # fmt: skip


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith(("/login", "/logout")):
        return "/"
    return target


def login_url(request: Request) -> str:
    """/login?next=<this page> (for a GET; a form post returns to the page it came from)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = safe_next(_referer_path(request))
    return "/login?next=" + quote(here, safe="/")


def _referer_path(request: Request) -> str:
    ref = urlsplit(request.headers.get("referer", ""))
    same = ref.netloc == request.url.netloc
    return (ref.path + (f"?{ref.query}" if ref.query else "")) if same else "/"


TITLES = {400: "That did not work", 403: "Not allowed", 404: "Not found",
          409: "Refused by a guardrail", 422: "Check the input", 429: "Slow down"}  # fmt: skip


def html_errors(request: Request, status: int, message: str) -> Response | None:
    """The UI's answer to a failed request from a browser (None: the API's JSON answers).
    Nobody signed in is sent to the sign-in page; an htmx request gets a message it shows in
    the page's message area; any other failure a plain page saying what happened."""
    if request.url.path.startswith("/v1/") or request.url.path == "/v1":
        return None
    htmx = request.headers.get("hx-request") == "true"
    if status == 401:
        target = login_url(request)
        if htmx:
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if htmx:
        return alert(message, status)
    return render.page(request, "error.html.j2", status=status, message=message,
                       title=TITLES.get(status, "Something went wrong"))  # fmt: skip


def alert(message: str, status: int = 200, *, kind: str = "error") -> HTMLResponse:
    """A message for the page's message area (htmx puts it there, whatever the target was)."""
    html = Markup('<div class="alert alert-{}" role="alert">{}</div>').format(kind, message)
    headers = render.PAGE_HEADERS | {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return HTMLResponse(str(html), status_code=status, headers=headers)
