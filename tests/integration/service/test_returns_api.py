"""The returns API on SQLite and PostgreSQL: the return-site registry (an operator files its own sites, an
administrator any, officers read their district's), import returns with their goods-back state, the overdue
list, and goods-back reports (by a site operator or an officer; idempotent; refused with reasons).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.console.returns_world import RETURNED_AT, ReturnsWorld, build_returns_world
from tests.integration.service.conftest import TEST_SECRETS, database_url

from cbec.service.app import create_app
from cbec.service.cast import ADMIN, OFFICER
from cbec.service.context import ServiceSettings
from cbec.sim.returns import SITE, UNFILED
from cbec.store.schema import application

AGENT_CODE = "4403960402"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ReturnsWorld, TestClient]]:
    root = tmp_path_factory.mktemp("returns-api")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "postgresql":
            for name, value in TEST_SECRETS.items():
                mp.setenv(name, value)
        world = build_returns_world(root, database_url(request.param, root))
        app = create_app(world.engine, settings=ServiceSettings(clearing=False, webhooks=False))
        with TestClient(app) as client:
            yield world, client
        world.engine.dispose()


def _h(world: ReturnsWorld, who: str) -> dict[str, str]:
    return {"X-API-Key": world.keys[who]}


def _error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    assert body["reason_zh"] and body["reason_en"]
    return body


def test_return_sites_are_read_by_role(rw: tuple[ReturnsWorld, TestClient]) -> None:
    world, client = rw
    assert client.get("/v1/return-sites").status_code == 401
    admin = client.get("/v1/return-sites", headers=_h(world, ADMIN))
    assert admin.status_code == 200
    ningbo = [s for s in admin.json()["sites"] if s["operatorCode"] == SITE.code]
    assert ningbo and ningbo[0]["customsCode"] == "3100" and ningbo[0]["returnArea"] is True
    own = client.get("/v1/return-sites", headers=_h(world, SITE.code)).json()["sites"]
    assert [s["operatorCode"] for s in own] == [SITE.code]
    # the demo officer's district is Hangzhou (2900): the Ningbo site (3100) is not in it
    assert client.get("/v1/return-sites", headers=_h(world, OFFICER)).json()["sites"] == []
    refused = client.get("/v1/return-sites", headers=_h(world, AGENT_CODE))
    assert refused.status_code == 403 and _error(refused)["code"] == "role"


def test_an_operator_files_its_own_site_and_an_administrator_any(rw: tuple[ReturnsWorld, TestClient]) -> None:
    world, client = rw
    body = {
        "customsCode": "2200",
        "operatorCode": UNFILED.code,
        "name": "上海退货仓",
        "validFrom": "2026-04-01",
    }
    r = client.post("/v1/return-sites", json=body, headers=_h(world, UNFILED.code))
    assert r.status_code == 201, r.text
    assert r.json()["operatorCode"] == UNFILED.code and r.json()["validFrom"] == "2026-04-01"
    mine = client.get("/v1/return-sites", headers=_h(world, UNFILED.code)).json()["sites"]
    assert [s["customsCode"] for s in mine] == ["2200"]
    other = client.post(
        "/v1/return-sites", json={**body, "operatorCode": SITE.code}, headers=_h(world, UNFILED.code)
    )
    assert other.status_code == 403 and _error(other)["code"] == "not-own-code"
    officer = client.post("/v1/return-sites", json=body, headers=_h(world, OFFICER))
    assert officer.status_code == 403
    bad = client.post("/v1/return-sites", json={**body, "validTo": "2026-01-01"}, headers=_h(world, ADMIN))
    assert bad.status_code == 422 and "valid_to" in _error(bad)["reason_en"]
    by_admin = client.post(
        "/v1/return-sites",
        json={**body, "customsCode": "2244", "returnArea": False},
        headers=_h(world, ADMIN),
    )
    assert by_admin.status_code == 201 and by_admin.json()["returnArea"] is False
    # the officer of Shanghai's district would see both Shanghai sites: the registry is filtered by district
    assert {
        s["customsCode"] for s in client.get("/v1/return-sites", headers=_h(world, ADMIN)).json()["sites"]
    } >= {
        "2200",
        "2244",
        "3100",
    }


def test_import_returns_with_their_goods_back_state(rw: tuple[ReturnsWorld, TestClient]) -> None:
    world, client = rw
    r = client.get("/v1/import-returns", headers=_h(world, ADMIN))
    assert r.status_code == 200
    got = {x["guid"]: x for x in r.json()["returns"]}
    assert set(got) == {x["guid"] for x in world.imports}
    for m in world.imports:
        x = got[m["guid"]]
        assert x["status"] == m["expected_status"] and (x["code"] or "") == m["expected_code"]
        if x["status"] == 399:
            assert x["quotaFen"] < 0 and x["lines"] and x["goodsBack"]["deadline"]
        else:
            assert x["goodsBack"]["state"] is None and x["reason"]["en"]
    assert got[world.back_on_time]["goodsBack"]["state"] == "back"
    late = [g for g, x in got.items() if x["status"] == 399 and g != world.back_on_time]
    assert late and all(got[g]["goodsBack"]["state"] == "overdue" for g in late)
    assert r.json()["counts"]["100"] == 1
    # an enterprise sees the returns it sent; the officer those of its district's lists
    with world.engine.connect() as conn:
        senders = dict(conn.execute(select(application.c.guid, application.c.sender)).all())
    agent = {
        x["guid"] for x in client.get("/v1/import-returns", headers=_h(world, AGENT_CODE)).json()["returns"]
    }
    assert agent == {g for g in got if senders[g] == AGENT_CODE}
    officer = {
        x["guid"] for x in client.get("/v1/import-returns", headers=_h(world, OFFICER)).json()["returns"]
    }
    assert officer == {g for g, x in got.items() if x["invtNo"].startswith("29")}
    assert (
        client.get("/v1/import-returns?status=100", headers=_h(world, ADMIN)).json()["returns"][0]["status"]
        == 100
    )


def test_the_overdue_list(rw: tuple[ReturnsWorld, TestClient]) -> None:
    world, client = rw
    r = client.get("/v1/import-returns/overdue", headers=_h(world, ADMIN))
    assert r.status_code == 200
    overdue = {x["guid"] for x in r.json()["overdue"]}
    accepted = {m["guid"] for m in world.imports if m["expected_status"] == 399}
    assert overdue == accepted - {world.back_on_time}
    early = client.get(
        f"/v1/import-returns/overdue?asOf={RETURNED_AT.date().isoformat()}", headers=_h(world, ADMIN)
    )
    assert early.json() == {"asOf": RETURNED_AT.date().isoformat(), "overdue": []}
    assert (
        client.get("/v1/import-returns/overdue?asOf=not-a-date", headers=_h(world, ADMIN)).status_code == 422
    )


def test_goods_back_reports(rw: tuple[ReturnsWorld, TestClient]) -> None:
    world, client = rw
    accepted = [
        m["guid"] for m in world.imports if m["expected_status"] == 399 and m["guid"] != world.back_on_time
    ]
    refused = next(m["guid"] for m in world.imports if m["expected_status"] == 100)
    guid = accepted[0]
    back_at = (RETURNED_AT + timedelta(days=20)).isoformat()
    url = f"/v1/import-returns/{guid}/goods-back"
    denied = client.post(url, json={"backAt": back_at}, headers=_h(world, AGENT_CODE))
    assert denied.status_code == 403 and _error(denied)["code"] == "role"
    first = client.post(url, json={"backAt": back_at, "note": "到仓"}, headers=_h(world, SITE.code))
    assert first.status_code == 201, first.text
    assert first.json()["recorded"] is True and first.json()["onTime"] is True
    again = client.post(url, json={"backAt": back_at}, headers=_h(world, ADMIN))
    assert again.status_code == 200 and again.json()["recorded"] is False
    other = client.post(
        url, json={"backAt": (RETURNED_AT + timedelta(days=21)).isoformat()}, headers=_h(world, ADMIN)
    )
    assert other.status_code == 409 and _error(other)["code"] == "goods-back-refused"
    no_return = client.post(
        f"/v1/import-returns/{refused}/goods-back", json={"backAt": back_at}, headers=_h(world, ADMIN)
    )
    assert no_return.status_code == 409 and "not accepted" in _error(no_return)["reason_en"]
    unknown = client.post(
        "/v1/import-returns/NO-SUCH/goods-back", json={"backAt": back_at}, headers=_h(world, ADMIN)
    )
    assert unknown.status_code == 404
    future = client.post(url, json={"backAt": "2999-01-01T00:00:00Z"}, headers=_h(world, ADMIN))
    assert future.status_code == 409
    # the report shows in the list: back on time, no longer overdue
    listed = client.get("/v1/import-returns", headers=_h(world, ADMIN)).json()["returns"]
    assert next(x for x in listed if x["guid"] == guid)["goodsBack"]["state"] == "back"
    overdue = client.get("/v1/import-returns/overdue", headers=_h(world, ADMIN)).json()["overdue"]
    assert guid not in {x["guid"] for x in overdue}
