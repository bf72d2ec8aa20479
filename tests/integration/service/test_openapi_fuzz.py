"""Schemathesis against the published OpenAPI: no request, however odd, gets a 5xx or an undocumented answer.

The app runs in-process (schemathesis' ASGI transport, no network) on its own temporary SQLite database with
the demo cast filed.  Every operation is fuzzed twice: with a real platform key, so requests get past
authentication into the handlers, and with no key, so the 401 path is covered too.  Generation is
derandomized (a fixed seed per test), so CI sees the same requests every run; the example counts keep the
whole file near a minute on a 2-core machine.

Checks: no server error, status code and content type as documented, response bodies as their declared
schemas, and a request outside the schema refused with a 4xx (negative data rejection).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, func, select
from starlette.routing import BaseRoute

from cbec.service.app import create_app
from cbec.service.cast import Cast, file_cast
from cbec.service.context import ServiceSettings
from cbec.store import connect
from cbec.store.schema import inbox

PLATFORM = "3301960001"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
AUTH_HEADERS = ("x-api-key", "authorization")
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Fuzzed:
    """The app under test, its database, and the demo keys."""

    def __init__(self, engine: Engine, cast: Cast, root: Path) -> None:
        self.engine = engine
        self.cast = cast
        self.app = create_app(engine, settings=ServiceSettings(clearing=False, webhooks=False))
        self.root = root


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    yield Fuzzed(engine, file_cast(engine, root / "keys"), root)
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed: Fuzzed) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)


def _with_key(case: schemathesis.Case, key: str | None) -> None:
    """Replace whatever credentials were generated with ours (or none at all)."""
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in AUTH_HEADERS}
    if key is not None:
        headers["X-API-Key"] = key
    case.headers = headers


def _strategy(operation: APIOperation) -> st.SearchStrategy[schemathesis.Case]:
    """Valid requests and, where the schema has something to break, invalid ones."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )


def _fuzz(schema: schemathesis.BaseSchema, key: str | None, examples: int) -> None:
    """Every operation in turn; all failures are reported together, each already shrunk by Hypothesis.

    (One loop rather than schemathesis' pytest loader: its lazy, fixture-based form does not run on
    pytest 9, and an eager one would need the app at collection time.)
    """
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=_strategy(operation))
        @settings(FUZZ, max_examples=examples)
        def one(case: schemathesis.Case) -> None:
            _with_key(case, key)
            response = case.call_and_validate(checks=CHECKS)
            if key is None and case.operation.path != "/health":
                # FastAPI parses a JSON body before the credentials are looked at
                assert response.status_code in (400, 401, 422), response.text

        try:
            one()
        except BaseException as exc:  # FailureGroup is a BaseExceptionGroup
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failures.append(f"=== {operation.label}\n{exc}")
    assert not failures, "\n\n".join(failures)


def test_authenticated(api_schema: schemathesis.BaseSchema, fuzzed: Fuzzed) -> None:
    _fuzz(api_schema, fuzzed.cast.keys[PLATFORM], examples=60)


def test_unauthenticated(api_schema: schemathesis.BaseSchema) -> None:
    _fuzz(api_schema, None, examples=15)


def test_refusals_stored_nothing(fuzzed: Fuzzed) -> None:
    """No fuzzed message got into the inbox: each was refused (4xx) before anything was stored."""
    with fuzzed.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
    assert stored == 0


def _api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route meant for the schema, through included routers however nested."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x keeps included routers nested
        if inner is not None:
            more = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            yield from _api_routes(inner.routes, prefix + more)
        elif isinstance(route, APIRoute) and route.include_in_schema:
            yield from ((m, prefix + route.path) for m in route.methods)


def test_openapi_is_served_complete_and_valid(fuzzed: Fuzzed, api_schema: schemathesis.BaseSchema) -> None:
    with TestClient(fuzzed.app) as client:
        r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    api_schema.validate()  # against the OpenAPI meta-schema; raises with the first problem

    published = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert set(_api_routes(fuzzed.app.routes)) == published
    assert {p for _m, p in published if p.startswith("/v1/")} >= {
        "/v1/messages",
        "/v1/receipts",
        "/v1/receipts/confirm",
        "/v1/receipts/{receipt_id}",
        "/v1/parcels",
        "/v1/checkout/precheck",
        "/v1/subscriptions",
        "/v1/subscriptions/{subscription_id}",
        "/v1/subscriptions/{subscription_id}/dead-letters",
        "/v1/subscriptions/{subscription_id}/dead-letters/retry",
    }
    # every refusal documented with the one error shape; every /v1 operation says how to authenticate
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status.startswith("4") and not (path == "/v1/messages" and status == "400"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (method, path, status)
            if path.startswith("/v1/"):
                assert "401" in op["responses"], (method, path)
                assert {next(iter(s)) for s in op["security"]} == {"ApiKey", "Bearer"}


def test_meta_schema_check_is_real(fuzzed: Fuzzed) -> None:
    """The validation above would notice a broken document (it is not a no-op)."""
    with TestClient(fuzzed.app) as client:
        doc = client.get("/openapi.json").json()
    doc["paths"]["/v1/parcels"]["get"]["responses"] = "none"
    with pytest.raises(Exception, match="none"):
        schemathesis.openapi.from_dict(doc).validate()
