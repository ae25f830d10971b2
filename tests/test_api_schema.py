"""Property-based requests over the whole OpenAPI document of the real app (schemathesis): every
operation it declares is called with generated parameters and bodies, authenticated by an API
key holding every scope (the public endpoints also get a configured site key), and must answer
without a server error, with a status code, content type and body its schema declares.

Then the same with invalid input (negative generation): still no server error.

Examples per operation are few (the report endpoints build a report per new parameter set), so
the whole pass stays within a minute or two on a CI machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from abmkit.api import create_app
from abmkit.app import Abm
from abmkit.auth import create_key
from abmkit.auth.roles import PERMISSIONS

SITE_KEY = "schema_test_site"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}
SLOW = ("/v1/reports/", "/v1/attribution", "/v1/lift")
"""Operations that build a report per new parameter set: half the examples."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]  # fmt: skip


@pytest.fixture
def app(demo_ws) -> Iterator[Any]:
    site = {"key": SITE_KEY, "name": "schema test", "origins": ["https://www.example.com"]}
    app = create_app(demo_ws, {"server": {"sites": [site]}})
    try:
        yield app
    finally:
        shutdown_lifespans()  # the server's startup ran when the first request came
        app.state.abm.close()


@pytest.fixture
def admin_key(demo_ws) -> str:
    with Abm.open(demo_ws) as abm:
        plaintext, _ = create_key(abm.app_store, "schema test", sorted(PERMISSIONS))
    return plaintext


def declared(raw: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in raw["paths"].items()
            for method in item if method in METHODS}  # fmt: skip


def site_parameters(operation: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The query parameters and headers through which the operation takes a site key, set to
    the configured one (an operation that declares none gets none)."""
    query, headers = {}, {}
    for p in operation.definition.raw.get("parameters", []):
        says = f"{p.get('name', '')} {p.get('description', '')}".lower()
        if "site key" in says or p.get("name", "").lower() in ("site", "site_key", "x-abm-site"):
            (query if p.get("in") == "query" else headers)[p["name"]] = SITE_KEY
    return query, headers


def has_input(operation: Any) -> bool:
    """Whether the operation takes parameters or a body (else nothing can be made invalid)."""
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def exercise(operation: Any, mode: GenerationMode, key: str) -> int:
    """Call the operation with generated cases; returns how many were sent."""
    if mode == GenerationMode.NEGATIVE and not has_input(operation):
        return 0
    query, site_headers = site_parameters(operation)
    headers = {"Authorization": f"Bearer {key}"}
    strategy = operation.as_strategy(mode, query=query or None,
                                     headers=site_headers or None)  # fmt: skip
    examples = EXAMPLES[mode] // (2 if operation.path.startswith(SLOW) else 1)
    sent = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        sent.append(response.status_code)
        assert response.status_code < 500, (operation.label, response.text[:500])
        if mode == GenerationMode.POSITIVE:
            case.validate_response(response, checks=CHECKS, headers=headers)

    check()
    return len(sent)


def test_every_operation_answers_without_a_server_error(app, admin_key):
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    expected = declared(schema.raw_schema)
    assert len(expected) >= 20  # the API's resources, auth and the public endpoints
    tested = {(op.method.upper(), op.path): sum(exercise(op, mode, admin_key) for mode in EXAMPLES)
              for op in operations}  # fmt: skip
    assert len(operations) == len(expected)
    assert set(tested) == expected
    assert all(n > 0 for n in tested.values()), tested  # every operation was really called
