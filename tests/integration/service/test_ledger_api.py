"""The bonded-ledger API: operators see and operate their own ledgers only, officers their district's;
movements, stocktakes and the reconciliation in JSON, CSV and Excel; refusals in 中文/English."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from cbec.rights import Role
from cbec.service.app import create_app
from cbec.service.context import ServiceSettings
from cbec.store import connect, enterprises


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    root = tmp_path_factory.mktemp("ledger-api")
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    keys: dict[str, str] = {}
    with engine.begin() as conn:
        for code, role, district in (
            ("3301960501", Role.OPERATOR, None),
            ("4403960502", Role.OPERATOR, None),
            ("3301960101", Role.ECOMMERCE, None),
            ("officer-hz", Role.OFFICER, "2900"),
            ("officer-sz", Role.OFFICER, "5300"),
            ("admin", Role.ADMIN, None),
        ):
            enterprises.register_enterprise(conn, code=code, name=code, roles=[role], district=district)
            keys[code] = enterprises.issue_api_key(conn, code, label="t").key
    app = create_app(engine, settings=ServiceSettings(webhooks=False, clearing=False))
    with TestClient(app) as client:
        yield client, keys
    engine.dispose()


def _h(keys: dict[str, str], who: str) -> dict[str, str]:
    return {"X-API-Key": keys[who]}


def test_operators_file_and_operate_their_own_ledger(api: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = api
    op = _h(keys, "3301960501")
    r = client.post(
        "/v1/ledgers",
        json={"emsNo": "T2924W000001", "areaCode": "3301960501", "customsCode": "2924"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/ledgers",
        json={"emsNo": "T5349W000002", "areaCode": "4403960502", "customsCode": "5349"},
        headers=op,
    )
    assert r.status_code == 403 and r.json()["error"]["reason_zh"]
    r = client.post(
        "/v1/ledgers/T2924W000001/movements",
        json={"kind": "entry", "docNo": "E-1", "lines": [
            {"itemRecordNo": "R1", "qty": "10", "gcode": "3304990029", "unit1": "011", "name": "面霜"}]},
        headers=op,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    again = client.post(
        "/v1/ledgers/T2924W000001/movements",
        json={"kind": "entry", "docNo": "E-1", "lines": [{"itemRecordNo": "R1", "qty": "10"}]},
        headers=op,
    )
    assert again.status_code == 409
    over = client.post(
        "/v1/ledgers/T2924W000001/movements",
        json={
            "kind": "dispose",
            "disposal": "destroy",
            "docNo": "D-1",
            "lines": [{"itemRecordNo": "R1", "qty": "11"}],
        },
        headers=op,
    )
    assert over.status_code == 400 and "insufficient" in over.json()["error"]["reason_en"]
    view = client.get("/v1/ledgers/T2924W000001", headers=op).json()
    assert view["items"][0]["balance"] == "10" and view["movements"][0]["kind"] == "entry"
    assert [lg["emsNo"] for lg in client.get("/v1/ledgers", headers=op).json()["ledgers"]] == ["T2924W000001"]

    # another operator, an e-commerce enterprise and an officer of another district: 403 with reasons
    for who in ("4403960502", "3301960101", "officer-sz"):
        r = client.get("/v1/ledgers/T2924W000001", headers=_h(keys, who))
        assert r.status_code == 403, who
        assert r.json()["error"]["reason_zh"] and r.json()["error"]["reason_en"]
    # the district's officer reads it and may adjust, not enter stock
    off = _h(keys, "officer-hz")
    assert client.get("/v1/ledgers/T2924W000001", headers=off).status_code == 200
    r = client.post(
        "/v1/ledgers/T2924W000001/movements",
        json={"kind": "entry", "docNo": "E-2", "lines": [{"itemRecordNo": "R1", "qty": "1"}]},
        headers=off,
    )
    assert r.status_code == 403
    r = client.post(
        "/v1/ledgers/T2924W000001/movements",
        json={
            "kind": "adjust",
            "docNo": "A-1",
            "reason": "盘亏核准",
            "lines": [{"itemRecordNo": "R1", "qty": "-1"}],
        },
        headers=off,
    )
    assert r.status_code == 201, r.text

    # stocktake and reconciliation
    r = client.post(
        "/v1/ledgers/T2924W000001/stocktakes",
        json={"lines": [{"itemRecordNo": "R1", "qty": "8"}]},
        headers=op,
    )
    assert r.status_code == 201, r.text
    item = r.json()["items"][0]
    assert (item["book"], item["counted"], item["difference"]) == ("9", "8", "-1")
    csv_text = client.get("/v1/ledgers/T2924W000001/reconciliation?format=csv", headers=op).text
    assert "R1" in csv_text and "-1" in csv_text
    xlsx = client.get("/v1/ledgers/T2924W000001/reconciliation?format=xlsx", headers=off)
    assert xlsx.status_code == 200
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb["对账 Reconciliation"].cell(3, 1).value == "R1"
    assert (
        client.get("/v1/ledgers/T2924W000001/reconciliation", headers=_h(keys, "4403960502")).status_code
        == 403
    )
