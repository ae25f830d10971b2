"""The settings as they may be shown to a person: the effective values, with every secret absent.

Secrets are read only from the environment (`ABM_SECRET_*`) and no setting holds one, but a
value can still carry one by accident: a database URL with its password
(`postgres://abm:hunter2@db/abm`), a receiver URL with a token in its query string, a secret
pasted into a setting. So before settings leave the server:

- the password of every URL is dropped (`postgres://abm@db/abm`);
- the value of every URL query parameter whose name says secret (key, token, secret, password,
  signature, auth…) becomes `redacted`;
- every value of an `ABM_SECRET_*` variable found inside a setting becomes `[secret]`;
- a setting whose own name says secret (none today) is left out.

Only the names of the `ABM_SECRET_*` variables that are set are shown, never their values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from abmkit.config.render import render_config
from abmkit.config.settings import Settings
from abmkit.config.workspace import SECRET_PREFIX

SECRET_FIELD = re.compile(r"(^|_)(pass(word)?|secret|token|api_?key|private_?key|credentials?)$",
                          re.IGNORECASE)  # fmt: skip
"""Names of settings whose values are secrets (a site's `key` is public: it sits in the page)."""
SECRET_PARAM = re.compile(r"pass|secret|token|key|sig|auth|code|credential", re.IGNORECASE)
"""Names of URL query parameters whose values are secrets."""
PLAIN_USER = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
"""A user name shown as it is; a longer or odder one may be a token and is redacted."""
REDACTED = "redacted"
SECRET_MARK = "[secret]"
SHORTEST_SECRET = 4
"""Environment secrets shorter than this are not searched for (they would mark common text)."""


def shown_settings(settings: Settings,
                   environ: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The effective settings as JSON-able data, every secret absent."""
    environ = os.environ if environ is None else environ
    values = [v for k, v in environ.items()
              if k.startswith(SECRET_PREFIX) and len(v) >= SHORTEST_SECRET]  # fmt: skip
    return _clean(settings.model_dump(mode="json"), sorted(values, key=len, reverse=True))


def shown_yaml(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The settings as `abm init` writes them (every field with its help text), every secret
    absent."""
    return render_config(Settings.model_validate(shown_settings(settings, environ)))


Shown = tuple[dict[str, Any], str, list[str]]


def shown(settings: Settings, environ: Mapping[str, str] | None = None) -> Shown:
    """The settings (as data and as the config file's YAML) and the names of the secrets set:
    what a settings page or `GET /v1/settings` shows."""
    return (shown_settings(settings, environ), shown_yaml(settings, environ),
            secrets_set(environ))  # fmt: skip


def secrets_set(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of the secrets set in the environment (never their values)."""
    environ = os.environ if environ is None else environ
    return sorted(k for k, v in environ.items() if k.startswith(SECRET_PREFIX) and v)


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v, secrets) for k, v in value.items()
                if not (SECRET_FIELD.search(k) and isinstance(v, str) and v)}  # fmt: skip
    if isinstance(value, list):
        return [_clean(v, secrets) for v in value]
    if isinstance(value, str):
        return _clean_text(value, secrets)
    return value


def _clean_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, SECRET_MARK)
    return redact_url(text) if "://" in text else text


def redact_url(url: str) -> str:
    """`url` without its password, a token-like user name or secret query values; unchanged
    when it has none of them."""
    try:
        parts = urlsplit(url)
        host, port, user, password = parts.hostname, parts.port, parts.username, parts.password
    except ValueError:  # not a URL after all: keep no part that could be a credential
        return url.split("://", 1)[0] + "://" + REDACTED
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret_query = any(SECRET_PARAM.search(k) for k, _ in pairs)
    if "@" not in parts.netloc and not secret_query and not parts.fragment:
        return url
    host = f"[{host}]" if host and ":" in host else host or ""
    netloc = host + (f":{port}" if port else "")
    if user:
        netloc = (user if PLAIN_USER.match(user) else REDACTED) + "@" + netloc
    query = urlencode([(k, REDACTED if SECRET_PARAM.search(k) else v) for k, v in pairs],
                      safe="{}/:")  # fmt: skip
    del password  # never shown
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{REDACTED}" if parts.fragment else ""))  # fmt: skip
