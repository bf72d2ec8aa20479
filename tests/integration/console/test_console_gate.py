"""The gate board (闸口看板) through TestClient: vehicles with every reason, passes by status with their
lists, the day's counts, who sees what, and holds placed and lifted from the page changing the gate's
decision."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.integration.console.conftest import login
from tests.integration.console.gate_world import (
    ADMIN,
    OFFICER_A,
    OFFICER_B,
    PLATFORM,
    ZONE_A,
    GateWorld,
    build_gate_world,
)

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings
from cbec.store.schema import gate_hold


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateWorld]:
    w = build_gate_world(tmp_path_factory.mktemp("gate-console"))
    yield w
    w.engine.dispose()


@pytest.fixture
def gclient(gw: GateWorld) -> Iterator[TestClient]:
    app = create_app(gw.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with TestClient(app) as client:
        yield client


def _as(client: TestClient, gw: GateWorld, who: str) -> None:
    client.cookies.clear()
    login(client, gw.keys[who])


def _vehicle(p: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "lane": "L3",
        "vehicleNo": p["plate"],
        "vehicleIcNo": p["ic"],
        "containerNo": p["box"],
        "weight": str((p["total_g"] + 10_000) / 1000),
        "at": datetime.now(UTC).isoformat(),
    }


def _figure(html: str, name: str) -> int:
    found = re.search(rf'id="{name}">(\d+)<', html)
    assert found is not None, name
    return int(found.group(1))


def test_operator_sees_its_vehicles_and_passes_with_every_reason(gw: GateWorld, gclient: TestClient) -> None:
    _as(gclient, gw, ZONE_A[2])
    r = gclient.get("/console/gate")
    assert r.status_code == 200
    html = r.text
    mine = [p["no"] for k, p in gw.passes.items() if k.startswith("GA")]
    assert all(n in html for n in mine) and gw.passes["GB-00001"]["no"] not in html
    assert 'data-event="w-1"' in html and 'data-event="w-2"' in html and 'data-event="w-3"' in html
    assert 'data-event="w-b1"' not in html  # the other zone's gate
    assert "超过核放单总重" in html and "未找到该车辆的核放单" in html  # overweight, no pass, in 中文
    assert _figure(html, "vehicles") == 3 and _figure(html, "stopped-count") == 2
    assert _figure(html, "lifted-count") == 1
    assert re.search(r"<code>overweight</code></td><td>超重</td><td class=\"num\">1<", html)
    assert 'id="hold-form"' not in html and 'id="active-holds"' not in html  # holds are officers' work
    for x in gw.released(ZONE_A)[0:2]:
        assert x.invt_no in html  # the bound lists
    en = gclient.get("/console/gate?lang=en").text
    assert "Gate board" in en and "beyond the tolerance" in en and "no gate pass was found" in en
    stops = gclient.get("/console/gate?decision=STOP").text
    assert 'data-event="w-2"' in stops and 'data-event="w-1"' not in stops


def test_passes_by_status_show_pending_reasons(gw: GateWorld, gclient: TestClient) -> None:
    _as(gclient, gw, ZONE_A[2])
    passed = gclient.get("/console/gate?status=2").text
    assert gw.passes["GA-00001"]["no"] in passed and gw.passes["GA-00003"]["no"] not in passed
    assert re.search(r'data-status="2"[^>]*>2 已过卡 \(<span class="n">1</span>\)', passed)
    assert gw.passes["GA-00004"]["stucd"] == "0"  # a bound list waits (missing payment)
    applied = gclient.get("/console/gate?status=0&lang=en").text
    assert gw.passes["GA-00004"]["no"] in applied and "bound lists not released yet" in applied
    assert gclient.get("/console/gate?status=9").status_code == 422


def test_officers_see_their_district_admins_all_others_refused(gw: GateWorld, gclient: TestClient) -> None:
    a, b = gw.passes["GA-00001"]["no"], gw.passes["GB-00001"]["no"]
    _as(gclient, gw, OFFICER_A)
    html = gclient.get("/console/gate").text
    assert a in html and b not in html and 'id="hold-form"' in html
    assert _figure(html, "vehicles") == 2  # the district's passes' vehicles (w-3 found no pass)
    _as(gclient, gw, OFFICER_B)
    html = gclient.get("/console/gate").text
    assert b in html and a not in html and 'data-event="w-b1"' in html
    _as(gclient, gw, ADMIN)
    html = gclient.get("/console/gate").text
    assert a in html and b in html and _figure(html, "vehicles") == 4
    _as(gclient, gw, PLATFORM)
    denied = gclient.get("/console/gate")
    assert denied.status_code == 403 and "卡口" in denied.text
    assert "/console/gate" not in gclient.get("/console/search").text  # not in its navigation
    _as(gclient, gw, ZONE_A[2])
    assert 'href="/console/gate"' in gclient.get("/console/search").text


def test_a_hold_placed_and_lifted_on_the_page_changes_the_gate_decision(
    gw: GateWorld, gclient: TestClient
) -> None:
    p = gw.passes["GA-00003"]
    gate_key = {"X-API-Key": gw.keys[ZONE_A[2]]}
    _as(gclient, gw, OFFICER_A)
    form = gclient.get(f"/console/gate?hold=pass&target={p['no']}").text
    assert f'value="{p["no"]}"' in form  # the link on the pass fills the form
    body = {
        "kind": "hold",
        "target_kind": "pass",
        "target": p["no"],
        "reason_zh": "走私嫌疑",
        "reason_en": "suspected",
    }
    r = gclient.post("/console/gate/holds", data=body, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/gate?done=placed")
    board = gclient.get("/console/gate?done=placed").text
    assert 'id="done"' in board and "走私嫌疑" in board
    hold_id = int(re.findall(r'data-hold="(\d+)"', board)[0])

    held = gclient.post("/v1/gate/events", json=_vehicle(p, "page-1"), headers=gate_key).json()
    assert held["decision"] == "STOP" and [x["code"] for x in held["reasons"]] == ["pass-held"]
    assert "走私嫌疑" in held["reasons"][0]["reason_zh"]
    assert "pass-held" in gclient.get("/console/gate").text  # the stop is on the board with its reason

    lifted = gclient.post(f"/console/gate/holds/{hold_id}/lift", follow_redirects=False)
    assert lifted.status_code == 303
    board = gclient.get("/console/gate").text
    assert f'data-hold="{hold_id}"' not in board and 'id="lifted-holds"' in board
    again = gclient.post(f"/console/gate/holds/{hold_id}/lift", follow_redirects=False)
    assert again.status_code == 409 and "已撤销" in again.text

    ok = gclient.post("/v1/gate/events", json=_vehicle(p, "page-2"), headers=gate_key).json()
    assert ok["decision"] == "LIFT" and ok["passStatus"] == "2"


def test_a_vehicle_hold_from_the_page_stops_that_vehicle(gw: GateWorld, gclient: TestClient) -> None:
    p = gw.passes["GA-00001"]  # already used: the hold adds its own reason to the second use
    _as(gclient, gw, OFFICER_A)
    body = {
        "target_kind": "vehicle",
        "target": p["plate"],
        "reason_zh": "车辆布控",
        "reason_en": "vehicle held",
    }
    assert gclient.post("/console/gate/holds", data=body, follow_redirects=False).status_code == 303
    d = gclient.post(
        "/v1/gate/events", json=_vehicle(p, "page-3"), headers={"X-API-Key": gw.keys[ZONE_A[2]]}
    ).json()
    assert {x["code"] for x in d["reasons"]} == {"pass-used", "vehicle-held"}


def test_refused_holds_change_nothing(gw: GateWorld, gclient: TestClient) -> None:
    with gw.engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(gate_hold))
    other = gw.passes["GB-00001"]["no"]
    _as(gclient, gw, OFFICER_A)
    body = {"target_kind": "pass", "target": other, "reason_zh": "布控", "reason_en": "hold"}
    r = gclient.post("/console/gate/holds", data=body)
    assert r.status_code == 404 and "本关区没有该核放单" in r.text  # another district's pass
    no_en = {"target_kind": "pass", "target": gw.passes["GA-00002"]["no"], "reason_zh": "布控"}
    r = gclient.post("/console/gate/holds", data=no_en)
    assert r.status_code == 422 and 'id="problem"' in r.text and "布控" in r.text
    inspect_vehicle = {**body, "kind": "inspection", "target_kind": "vehicle", "target": "浙A1"}
    assert gclient.post("/console/gate/holds", data=inspect_vehicle).status_code == 422
    cross = gclient.post(
        "/console/gate/holds", data=body, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert cross.status_code == 403
    _as(gclient, gw, ZONE_A[2])
    mine = {**body, "target": gw.passes["GA-00002"]["no"]}
    r = gclient.post("/console/gate/holds", data=mine)
    assert r.status_code == 403 and "关员" in r.text  # operators do not hold
    gclient.cookies.clear()
    r = gclient.post("/console/gate/holds", data=mine, follow_redirects=False)
    assert r.status_code == 303 and "/console/login" in r.headers["location"]
    with gw.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(gate_hold)) == before
