"""Export parcels through the HTTP API, then their monthly summary and the 9810 true-up, on SQLite and
PostgreSQL: orders, waybills, lists, arrivals, master bills and departures sent by the enterprises they belong
to (``POST /v1/messages``), receipts 120 → 399 → 800 → 899 in the feed, the parcel's history; then
``/v1/summaries`` and ``/v1/exports/…/true-up`` with their rights.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import Engine, select
from tests.integration.service.conftest import COP, TEST_SECRETS, database_url, wait_cleared

from cbec.engine.clear import iter_inputs
from cbec.service.app import create_app
from cbec.service.cast import ADMIN, OFFICER, Cast, file_cast, use_signing_dir
from cbec.service.context import ServiceSettings
from cbec.sim.exports import ExportConfig, generate_exports, write_exports
from cbec.store import connect
from cbec.store.schema import export_list, export_refund_line


@dataclass
class ExportService:
    engine: Engine
    client: TestClient
    cast: Cast
    traffic: Path

    def key(self, code: str) -> dict[str, str]:
        return {"X-API-Key": self.cast.keys[code]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def exports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExportService]:
    root = tmp_path_factory.mktemp("export-service")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "postgresql":
            for name, value in TEST_SECRETS.items():
                mp.setenv(name, value)
        engine = connect(database_url(request.param, root))
        cast = file_cast(engine, root / "keys")
        use_signing_dir(cast)
        traffic = root / "traffic"
        write_exports(generate_exports(ExportConfig(parcels=60, seed=5, faults={})), traffic)
        app = create_app(engine, settings=ServiceSettings(webhooks=False))
        with TestClient(app) as client:
            service = ExportService(engine, client, cast, traffic)
            for _name, data in iter_inputs(traffic):
                found = COP.search(data)
                assert found
                r = client.post(
                    "/v1/messages",
                    content=data,
                    headers={**service.key(found.group(1).decode()), "Content-Type": "application/xml"},
                )
                assert r.status_code == 202, r.text
            wait_cleared(engine, timeout=120)
            yield service
        engine.dispose()


def _period() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def _cleared(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                export_list.c.invt_no,
                export_list.c.agent_code,
                export_list.c.ebc_code,
                export_list.c.customs_code,
            )
            .where(export_list.c.status == 899, export_list.c.statistics_flag == "B")
            .order_by(export_list.c.invt_no)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _statuses(xml: str) -> list[tuple[str, str]]:
    root = etree.fromstring(xml.encode())
    out = []
    for doc in root:
        invt = doc.find(".//{*}invtNo")
        status = doc.find(".//{*}returnStatus")
        if invt is not None and status is not None:
            out.append((invt.text or "", status.text or ""))
    return out


def test_an_export_parcel_through_the_api(exports: ExportService) -> None:
    cleared = _cleared(exports.engine)
    assert len(cleared) > 20
    invt, agent, _ebc, _customs = next((c for c in cleared if c[3].startswith("29")), cleared[0])
    seen: list[str] = []
    after = 0
    for _ in range(50):  # page through the agent's feed
        page = exports.client.get(f"/v1/receipts?after={after}&limit=500", headers=exports.key(agent)).json()
        for r in page["receipts"]:
            if r["messageType"] == "CEB604Message":
                seen += [s for i, s in _statuses(r["xml"]) if i == invt]
        if not page["receipts"]:
            break
        after = page["next"]
    assert seen == ["120", "399", "800", "899"], seen
    history = exports.client.get(f"/v1/parcels?invtNo={invt}", headers=exports.key(agent))
    assert history.status_code == 200, history.text
    body = history.json()
    assert [d["status"] for d in body["decisions"]] == [399, 800, 899]
    assert "x_list" in {d["kind"] for d in body["documents"]}  # the agent is a party of the list only
    assert next(d for d in body["documents"] if d["kind"] == "x_list")["head"]["invtNo"] == invt
    full = exports.client.get(f"/v1/parcels?invtNo={invt}", headers=exports.key(ADMIN)).json()
    assert {"x_list", "x_order", "x_waybill"} <= {d["kind"] for d in full["documents"]}
    officer = exports.client.get(f"/v1/parcels?invtNo={invt}", headers=exports.key(OFFICER))
    assert officer.status_code == (200 if _customs[:2] == "29" else 404)
    # another enterprise does not see it
    other = next(c for c in exports.cast.keys if c not in (agent, ADMIN, OFFICER) and c.endswith("01"))
    assert exports.client.get(f"/v1/parcels?invtNo={invt}", headers=exports.key(other)).status_code in (
        403,
        404,
    )


def test_summaries_api_and_its_rights(exports: ExportService) -> None:
    period = _period()
    c = exports.client
    assert c.get("/v1/summaries").status_code == 401
    r = c.post("/v1/summaries", json={"period": period}, headers=exports.key(OFFICER))
    assert r.status_code == 403 and r.json()["error"]["reason_zh"] and r.json()["error"]["reason_en"]
    r = c.post("/v1/summaries", json={"period": period}, headers=exports.key("3301960301"))  # a carrier
    assert r.status_code == 403 and "CEB701" in r.json()["error"]["reason_en"]
    assert c.post("/v1/summaries", json={"period": "2026-13"}, headers=exports.key(ADMIN)).status_code == 422

    cleared = _cleared(exports.engine)
    ebc = cleared[0][2]  # a consignor applies for its own lists
    first = c.post("/v1/summaries", json={"period": period}, headers=exports.key(ebc))
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["created"] and all(a["ebcCode"] == ebc for a in made["applications"])
    again = c.post("/v1/summaries", json={"period": period}, headers=exports.key(ebc))
    assert again.status_code == 200 and again.json()["created"] == []
    assert [a["sumNo"] for a in again.json()["applications"]] == [a["sumNo"] for a in made["applications"]]

    listing = c.get(f"/v1/summaries?period={period}", headers=exports.key(ebc)).json()
    assert {a["sumNo"] for a in listing["applications"]} == set(made["created"])
    assert listing["periods"][0]["period"] == period and listing["due"]["date"]
    sum_no = made["created"][0]
    one = c.get(f"/v1/summaries/{sum_no}", headers=exports.key(ebc))
    assert one.status_code == 200, one.text
    detail = one.json()
    taken = {m["invtNo"] for d in detail["declarationList"] for x in d["items"] for m in x["listLines"]}
    assert taken == {i for i, _a, e, _c in cleared if e == ebc}
    assert all(x["listLines"] for d in detail["declarationList"] for x in d["items"])
    # rights: another consignor does not see it (404); its agents (granted by the consignor), the officer
    # of its district and the administrator do
    other = next(e for _i, _a, e, _c in cleared if e != ebc)
    assert c.get(f"/v1/summaries/{sum_no}", headers=exports.key(other)).status_code == 404
    assert c.get(f"/v1/summaries/{sum_no}", headers=exports.key(detail["agentCode"])).status_code == 200
    officer = c.get(f"/v1/summaries/{sum_no}", headers=exports.key(OFFICER)).status_code
    assert officer == (200 if detail["customsCode"][:2] == "29" else 404)
    assert c.get(f"/v1/summaries/{sum_no}", headers=exports.key(ADMIN)).status_code == 200
    # the administrator summarises everyone else's: the consignor's lists are not taken again
    everyone = c.post("/v1/summaries", json={"period": period}, headers=exports.key(ADMIN))
    assert everyone.status_code == 201
    apps = everyone.json()["applications"]
    assert set(made["created"]) < {a["sumNo"] for a in apps}
    assert all(a["supplement"] == 0 for a in apps)
    assert len({a["ebcCode"] for a in apps}) == len(apps)


def test_true_up_api_is_idempotent_and_owned(exports: ExportService) -> None:
    with exports.engine.connect() as conn:
        row = conn.execute(
            select(export_refund_line.c.invt_no, export_refund_line.c.gnum, export_refund_line.c.qty_e5)
            .where(export_refund_line.c.status == "provisional")
            .order_by(export_refund_line.c.invt_no)
        ).first()
        assert row is not None, "no pre-refunded 9810 line in the traffic"
        owner = conn.execute(
            select(export_list.c.agent_code, export_list.c.ebc_code).where(
                export_list.c.invt_no == row.invt_no
            )
        ).one()
    url = f"/v1/exports/{row.invt_no}/lines/{row.gnum}/true-up"
    qty = Decimal(row.qty_e5) / 100_000
    body = {"eventId": f"sale-{row.invt_no}", "kind": "sold", "qty": str(qty)}
    c = exports.client
    assert c.post(url, json=body).status_code == 401
    assert c.post(url, json=body, headers=exports.key(OFFICER)).status_code == 403
    # another consignor (the agents are granted by every consignor of the cast, so they may report)
    stranger = next(code for code in ("3301960101", "4403960102", "3101960103") if code != owner.ebc_code)
    assert c.post(url, json=body, headers=exports.key(stranger)).status_code == 404
    first = c.post(url, json=body, headers=exports.key(owner.agent_code))
    assert first.status_code == 201, first.text
    assert first.json()["line"]["sold"] == str(qty) and first.json()["repayFen"] == 0
    again = c.post(url, json=body, headers=exports.key(owner.agent_code))
    assert again.status_code == 200 and again.json()["recorded"] is False
    assert again.json()["line"]["sold"] == str(qty)
    over = c.post(
        url, json={**body, "eventId": "more", "kind": "returned"}, headers=exports.key(owner.agent_code)
    )
    assert over.status_code == 409 and over.json()["error"]["reason_zh"]
