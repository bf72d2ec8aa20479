"""A supervised site sends a CEB711 warehouse-entry detail over HTTP and reads its CEB712 receipts."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from lxml import etree
from tests.integration.service.conftest import Service

from cbec.messages.columns import decode_batch
from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.sim.chunk import identity_of
from cbec.sim.exports import OPERATORS

SITE = OPERATORS[1]  # a supervised-site operator of the cast, with a signing certificate on file


def _entry(code: str, name: str, numbers: list[str], customs: str) -> tuple[str, bytes]:
    head = {
        "guid": new_guid(), "appType": "1", "appTime": datetime(2026, 11, 12, 3, 0, 0), "appStatus": "2",
        "customsCode": customs, "copNo": "RK-API-1", "operatorCode": SITE.code, "operatorName": SITE.name,
        "ieFlag": "I", "trafMode": "5", "trafNo": "CA1234", "voyageNo": "CA1234", "billNo": "784-12345678",
        "logisticsCode": code, "logisticsName": name,
    }  # fmt: skip
    lines = [{"gnum": i + 1, "logisticsNo": n} for i, n in enumerate(numbers)]
    transfer = {"copCode": SITE.code, "copName": SITE.name, "dxpMode": "DXP", "dxpId": "DXPENT0000000602"}
    xml = encode(
        "CEB711Message", [OutDocument(head, lines)], transfer=transfer, signer=identity_of(SITE.code)
    )
    return str(head["guid"]), xml


def test_site_sends_an_entry_detail_and_reads_its_receipts(service: Service) -> None:
    for _name, data in service.files():
        assert service.send(data, service.sender_key(data)).status_code in (202, 200)
    service.wait_cleared()
    lists = (  # direct-purchase (9610) parcels, whose waybills are declared
        decode_batch([d for _n, d in service.files() if b"CEB621Message" in d[:400]])
        .table("CEB621Message", "InventoryHead")
        .filter(pl.col("tradeMode") == "9610")
        .select("logisticsCode", "logisticsNo", "customsCode")
    )
    code, customs = lists["logisticsCode"][0], lists["customsCode"][0]
    numbers = lists.filter(pl.col("logisticsCode") == code)["logisticsNo"].to_list()[:3]
    name = "示例国际快递有限公司"
    guid, xml = _entry(code, name, numbers, customs)
    key = service.cast.keys[SITE.code]
    sent = service.send(xml, key)
    assert sent.status_code == 202, sent.text
    # another site may not send an entry detail in this operator's name
    other = service.send(_entry(code, name, numbers, customs)[1], service.cast.keys[OPERATORS[0].code])
    assert other.status_code == 403 and other.json()["error"]["field"] in ("copCode", "operatorCode")
    service.wait_cleared()
    feed = service.client.get("/v1/receipts", headers={"X-API-Key": key}).json()
    answers = [r for r in feed["receipts"] if r["messageType"] == "CEB712Message"]
    statuses = [
        el.text
        for r in answers
        for head in etree.fromstring(r["xml"].encode()).iter("{*}DeliveryReturn")
        for el in head.iter("{*}returnStatus")
        if any(g.text == guid for g in head.iter("{*}guid"))
    ]
    assert answers, feed
    assert "399" in statuses or "120" in statuses, [r["xml"][:400] for r in answers]
    # the site reads its entry back: head, lines (every waybill declared) and the same CEB712 returns
    read = service.client.get(f"/v1/warehouse-entries/{guid}", headers={"X-API-Key": key})
    assert read.status_code == 200, read.text
    entry = read.json()
    assert entry["status"] == 399 and entry["operatorCode"] == SITE.code and entry["customsCode"] == customs
    assert [line["logisticsNo"] for line in entry["lines"]] == numbers
    assert all(line["found"] for line in entry["lines"]) and entry["linesNotFound"] == 0
    assert [r["returnStatus"] for r in entry["receipts"]] == ["120", "399"]
    listed = service.client.get(
        "/v1/warehouse-entries", params={"logisticsNo": numbers[0]}, headers={"X-API-Key": key}
    )
    assert [e["guid"] for e in listed.json()["entries"]] == [guid]
    # the other site neither reads it nor finds it
    other_key = service.cast.keys[OPERATORS[0].code]
    assert (
        service.client.get(f"/v1/warehouse-entries/{guid}", headers={"X-API-Key": other_key}).status_code
        == 403
    )
    assert (
        service.client.get("/v1/warehouse-entries", headers={"X-API-Key": other_key}).json()["entries"] == []
    )
