"""A generated day sent through the HTTP API by the enterprises it belongs to: stored, cleared, answered."""

from __future__ import annotations

from lxml import etree
from tests.integration.service.conftest import Service


def _statuses(xml: str) -> list[str]:
    root = etree.fromstring(xml.encode())
    return [el.text or "" for el in root.iter("{*}returnStatus")]


def test_day_through_the_api(service: Service) -> None:
    files = service.files()
    for _name, data in files:
        r = service.send(data, service.sender_key(data))
        assert r.status_code == 202, r.text
        assert r.json()["outcome"] == "new"
    service.wait_cleared()

    agent_key = service.cast.keys["4403960402"]
    feed = service.client.get("/v1/receipts", headers={"X-API-Key": agent_key}).json()
    lists = [r for r in feed["receipts"] if r["messageType"] == "CEB622Message"]
    assert lists, feed
    assert all(r["recipient"] == "4403960402" for r in feed["receipts"])
    statuses = [s for r in lists for s in _statuses(r["xml"])]
    assert "800" in statuses  # released lists

    # the feed resumes after the confirmed position and never gives a receipt twice
    last = feed["next"]
    ok = service.client.post("/v1/receipts/confirm", json={"upto": last}, headers={"X-API-Key": agent_key})
    assert ok.status_code == 200 and ok.json()["position"] == last
    again = service.client.get("/v1/receipts", headers={"X-API-Key": agent_key}).json()
    assert all(r["id"] > last for r in again["receipts"])


def test_repeat_is_answered_from_the_inbox(service: Service) -> None:
    _name, data = service.files()[0]
    r = service.send(data, service.sender_key(data))
    assert r.status_code == 202 and r.json()["outcome"] == "repeat"


def test_wrong_role_is_403_with_reason(service: Service) -> None:
    lists = [d for n, d in service.files() if b"CEB621Message" in d[:300]]
    platform_key = service.cast.keys["3301960001"]
    r = service.send(lists[0], platform_key)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["reason_zh"] and err["reason_en"]


def test_no_key_is_401(service: Service) -> None:
    r = service.client.post("/v1/messages", content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 401
    assert r.json()["error"]["reason_en"]


def test_malformed_xml_gets_ceb900(service: Service) -> None:
    key = service.cast.keys["3301960001"]
    r = service.send(b"<ceb:CEB311Message xmlns:ceb='http://www.chinaport.gov.cn/ceb'><oops>", key)
    assert r.status_code == 400
    body = r.json()
    assert body["error"]["returnStatus"] == "-1"
    assert "CEB900Message" in body["ceb900"]


def test_tampered_signed_list_is_refused(service: Service) -> None:
    data = next(d for n, d in service.files() if b"CEB621Message" in d[:300])
    tampered = data.replace(b"<ceb:grossWeight>", b"<ceb:grossWeight>9", 1)
    assert tampered != data
    r = service.send(tampered.replace(b'guid="', b'guid="X', 1), service.sender_key(data))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in {"-621028", "-621029"}


def test_parcel_history_masks_personal_data(service: Service) -> None:
    platform_key = service.cast.keys["3301960001"]
    data = next(d for n, d in service.files() if b"CEB311Message" in d[:300] and b"3301960001" in d)
    order_no = etree.fromstring(data).find(".//{*}orderNo").text
    r = service.client.get("/v1/parcels", params={"orderNo": order_no}, headers={"X-API-Key": platform_key})
    assert r.status_code == 200, r.text
    body = r.json()
    kinds = {d["kind"] for d in body["documents"]}
    assert "order" in kinds
    order = next(d for d in body["documents"] if d["kind"] == "order")
    id_number = order["head"]["buyerIdNumber"]
    assert "*" in id_number
    # a platform may not ask for it in clear
    r2 = service.client.get(
        "/v1/parcels",
        params={"orderNo": order_no, "unmask": True, "purpose": "x"},
        headers={"X-API-Key": platform_key},
    )
    assert r2.status_code == 403


def test_someone_elses_parcel_is_404(service: Service) -> None:
    data = next(d for n, d in service.files() if b"CEB311Message" in d[:300] and b"3301960001" in d)
    order_no = etree.fromstring(data).find(".//{*}orderNo").text
    other = service.cast.keys["4403960002"]  # another platform
    r = service.client.get(
        "/v1/parcels", params={"orderNo": order_no, "ebpCode": "3301960001"}, headers={"X-API-Key": other}
    )
    assert r.status_code == 404


def test_checkout_precheck(service: Service) -> None:
    key = service.cast.keys["3301960001"]
    body = {
        "buyerIdNumber": "11010519491231002X",
        "items": [{"hs10": "3304990099", "price": "300", "qty": "2"}],
        "freight": "10",
    }
    r = service.client.post("/v1/checkout/precheck", json=body, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["admissible"] is True
    assert out["tax_total"] is not None
    bad = service.client.post(
        "/v1/checkout/precheck",
        json={**body, "buyerIdNumber": "110105194912310021"},
        headers={"X-API-Key": key},
    )
    assert bad.status_code == 422


def test_officer_sees_the_whole_parcel_of_a_list_in_district(service: Service) -> None:
    for _name, data in service.files():  # stored already when the module runs in order: then repeats
        assert service.send(data, service.sender_key(data)).status_code == 202
    service.wait_cleared()
    heads = [
        h
        for _n, d in service.files()
        if b"CEB621Message" in d[:300]
        for h in etree.fromstring(d).iter("{*}InventoryHead")
    ]
    head = next(h for h in heads if (h.findtext("{*}customsCode") or "").startswith("29"))
    invt_order = head.findtext("{*}orderNo")
    customs = head.findtext("{*}customsCode") or ""
    officer = service.cast.keys["demo-officer"]  # district 2900
    r = service.client.get(
        "/v1/parcels",
        params={"orderNo": invt_order, "ebpCode": head.findtext("{*}ebpCode")},
        headers={"X-API-Key": officer},
    )
    assert customs.startswith("29")
    assert r.status_code == 200, r.text
    kinds = {d["kind"] for d in r.json()["documents"]}
    assert {"order", "list"} <= kinds  # the order comes with the list of the district
    other = next(h for h in heads if not (h.findtext("{*}customsCode") or "").startswith("29"))
    r2 = service.client.get(
        "/v1/parcels",
        params={"orderNo": other.findtext("{*}orderNo"), "ebpCode": other.findtext("{*}ebpCode")},
        headers={"X-API-Key": officer},
    )
    assert r2.status_code == 404  # another district's parcel
