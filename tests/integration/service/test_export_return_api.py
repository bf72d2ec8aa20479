"""An export return through the HTTP API: export parcels sent by their enterprises and cleared (899), then a
CEB213 return application sent by the declaring agent (``POST /v1/messages``) and a CEB215 tally sent by the
site operator; the receipts 214 120 → 800 and 216 399 arrive in the feeds, and a party that is not the
list's may not send the application.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from tests.integration.service.conftest import COP, TEST_SECRETS, database_url, wait_cleared

from cbec.engine.clear import iter_inputs
from cbec.messages.decode import decode
from cbec.messages.encode_columns import encode_documents
from cbec.messages.signature import requires_signature
from cbec.service.app import create_app
from cbec.service.cast import Cast, file_cast, use_signing_dir
from cbec.service.context import ServiceSettings
from cbec.sim.chunk import identity_of
from cbec.sim.exports import OPERATORS, ExportConfig, generate_exports, write_exports
from cbec.store import connect
from cbec.store.schema import export_list, export_return


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, TestClient, Cast, dict[str, object]]]:
    root = tmp_path_factory.mktemp("return-service")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "postgresql":
            for name, value in TEST_SECRETS.items():
                mp.setenv(name, value)
        engine = connect(database_url(request.param, root))
        cast = file_cast(engine, root / "keys")
        use_signing_dir(cast)
        traffic = root / "traffic"
        write_exports(generate_exports(ExportConfig(parcels=10, seed=21, faults={})), traffic)
        lists: dict[str, object] = {}
        app = create_app(engine, settings=ServiceSettings(webhooks=False))
        with TestClient(app) as client:
            for _name, data in iter_inputs(traffic):
                found = COP.search(data)
                assert found
                if b"CEB603Message" in data[:400]:
                    for doc in decode(data).documents:
                        lists[str(doc.head["guid"])] = doc
                r = client.post(
                    "/v1/messages",
                    content=data,
                    headers={
                        "X-API-Key": cast.keys[found.group(1).decode()],
                        "Content-Type": "application/xml",
                    },
                )
                assert r.status_code == 202, r.text
            wait_cleared(engine, timeout=120)
            yield engine, client, cast, lists
        engine.dispose()


def _message(
    mtype: str, head: dict[str, object], lines: list[dict[str, object]] | None, sender: str
) -> bytes:
    h = pl.DataFrame([head]).with_columns(
        pl.lit(0, pl.Int32).alias("_msg"), pl.lit(0, pl.Int32).alias("_doc")
    )
    ln = None
    if lines is not None:
        ln = pl.DataFrame(lines).with_columns(
            pl.lit(0, pl.Int32).alias("_msg"), pl.lit(0, pl.Int32).alias("_doc")
        )
    signer = identity_of(sender) if requires_signature(mtype, [head]) else None
    transfer: dict[str, str | None] = {
        "copCode": sender,
        "copName": sender,
        "dxpMode": "DXP",
        "dxpId": f"DXPENT{sender}",
    }
    [(_m, xml)] = encode_documents(mtype, h, ln, transfers={0: transfer}, signer=signer)
    return xml


def _feed(client: TestClient, key: str, mtype: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    after = 0
    while True:
        page = client.get(f"/v1/receipts?after={after}&limit=500", headers={"X-API-Key": key}).json()
        if not page["receipts"]:
            return out
        for r in page["receipts"]:
            if r["messageType"] == mtype:
                out += [{k: str(v) for k, v in d.head.items()} for d in decode(r["xml"].encode()).documents]
        after = max(int(r["id"]) for r in page["receipts"])


def test_a_return_application_and_its_tally_through_the_api(
    world: tuple[Engine, TestClient, Cast, dict[str, object]],
) -> None:
    engine, client, cast, lists = world
    with engine.connect() as conn:
        rows = conn.execute(
            select(export_list.c.guid, export_list.c.invt_no, export_list.c.customs_code)
            .where(export_list.c.status == 899, export_list.c.trade_mode == "9610")
            .order_by(export_list.c.invt_no)
        ).all()
    # a list whose first line is not food (HS chapters 01-24), which the exemption excludes; without an order
    # the database may hand back any list, and PostgreSQL once handed back one of food
    row = next(
        (r for r in rows if str(lists[r.guid].lines[0]["gcode"])[:2] > "24"),  # type: ignore[attr-defined]
        None,
    )
    assert row is not None
    doc = lists[row.guid]
    h = doc.head  # type: ignore[attr-defined]
    line = doc.lines[0]  # type: ignore[attr-defined]
    now = datetime.now()
    application = {
        "guid": "A0B0C0D0-0000-4000-8000-00000000A213",
        "appType": "1",
        "appTime": now,
        "appStatus": "2",
        "customsCode": row.customs_code,
        "ebpCode": h["ebpCode"],
        "ebpName": h["ebpName"],
        "ebcCode": h["ebcCode"],
        "ebcName": h["ebcName"],
        "logisticsNo": "RTAPI0000001",
        "logisticsCode": h["logisticsCode"],
        "logisticsName": h["logisticsName"],
        "coElNo": "RAPI0001",
        "invtNo": row.invt_no,
        "tradeMode": "9610",
        "agentCode": h["agentCode"],
        "agentName": h["agentName"],
        "billNo": "RTAPI0000001",
        "ieFlag": "I",
        "trafMode": "5",
        "trafName": "CZ",
        "portCode": row.customs_code,
        "reason": "买家退货 returned by the buyer",
        "country": h["country"],
        "voyageNo": "CZ3100",
    }
    lines = [
        {
            "gnum": line["gnum"],
            "gcode": line["gcode"],
            "gname": line["gname"],
            "gmodel": line["gmodel"],
            "qty": line["qty"],
            "qty1": line["qty1"],
            "unit": line["unit"],
            "unit1": line["unit1"],
        }
    ]
    agent = str(h["agentCode"])
    xml = _message("CEB213Message", application, lines, agent)
    # a carrier may not declare the return of someone else's list
    carrier = str(h["logisticsCode"])
    refused = client.post(
        "/v1/messages",
        content=xml,
        headers={"X-API-Key": cast.keys[carrier], "Content-Type": "application/xml"},
    )
    assert refused.status_code == 403, refused.text
    sent = client.post(
        "/v1/messages",
        content=xml,
        headers={"X-API-Key": cast.keys[agent], "Content-Type": "application/xml"},
    )
    assert sent.status_code == 202, sent.text
    wait_cleared(engine)
    operator = next(o for o in OPERATORS if o.code[:2] == str(row.customs_code)[:2] or o is OPERATORS[-1])
    tally = {
        "guid": "A0B0C0D0-0000-4000-8000-00000000A215",
        "appType": "1",
        "appTime": now,
        "appStatus": "2",
        "customsCode": row.customs_code,
        "operatorCode": operator.code,
        "operatorName": operator.name,
        "logisticsCode": h["logisticsCode"],
        "logisticsName": h["logisticsName"],
        "logisticsNo": "RTAPI0000001",
        "invtNo": row.invt_no,
        "coElNo": "TAPI0001",
        "billNo": "RTAPI0000001",
        "ieFlag": "I",
        "trafMode": "5",
        "trafName": "CZ",
        "voyageNo": "CZ3100",
        "location": "退货区A-01",
    }
    sent = client.post(
        "/v1/messages",
        content=_message("CEB215Message", tally, None, operator.code),
        headers={"X-API-Key": cast.keys[operator.code], "Content-Type": "application/xml"},
    )
    assert sent.status_code == 202, sent.text
    wait_cleared(engine)
    with engine.connect() as conn:
        status = conn.execute(
            select(export_return.c.status).where(export_return.c.co_el_no == "RAPI0001")
        ).scalar_one()
    assert status == 800
    statuses = [r["returnStatus"] for r in _feed(client, cast.keys[agent], "CEB214Message")]
    assert "120" in statuses and "800" in statuses, statuses
    tallied = [r["returnStatus"] for r in _feed(client, cast.keys[operator.code], "CEB216Message")]
    assert "399" in tallied, tallied
    # the parcel's history shows the return: accepted, then released with its tax outcome
    history = client.get(f"/v1/parcels?invtNo={row.invt_no}", headers={"X-API-Key": cast.keys[agent]})
    assert history.status_code == 200, history.text
    returns = [d for d in history.json()["decisions"] if str(d.get("rule", "")).startswith("export.return")]
    assert [d["status"] for d in returns] == [120, 800], returns
    assert "1项免征进口税" in returns[-1]["reasonZh"] and "exempt" in returns[-1]["reasonEn"]
