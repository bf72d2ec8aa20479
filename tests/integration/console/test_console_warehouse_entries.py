"""The warehouse-entry pages (入库明细单) through TestClient: the list with status, site, time, lines and
waybills not declared, its filters and paging; one entry with its lines and CEB712 receipts; who may open
which (in 中文 and English)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.integration.console.conftest import login
from tests.integration.console.entry_world import (
    ECOMMERCE,
    SITE_A,
    SITE_B,
    UNDECLARED,
    EntryWorld,
    build_entry_world,
)

from cbec.service.app import create_app
from cbec.service.console import pages_warehouse
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def ew(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntryWorld]:
    w = build_entry_world(tmp_path_factory.mktemp("entry-console"))
    yield w
    w.engine.dispose()


@pytest.fixture
def eclient(ew: EntryWorld) -> Iterator[TestClient]:
    app = create_app(ew.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with TestClient(app) as client:
        yield client


def _rows(html: str) -> list[str]:
    """The guids of the list's rows, in order."""
    return [part.split('"', 1)[0] for part in html.split('data-guid="')[1:]]


def test_a_site_lists_its_entries_and_opens_a_refused_one(ew: EntryWorld, eclient: TestClient) -> None:
    login(eclient, ew.keys[SITE_A[0]])
    listing = eclient.get("/console/warehouse-entries")
    assert listing.status_code == 200
    html = listing.text
    assert 'href="/console/warehouse-entries"' in html  # in the navigation
    assert _rows(html) == [ew.guid("a3"), ew.guid("a2"), ew.guid("a1")]
    assert ew.guid("b1") not in html  # another site's entry
    assert "2026-11-13 11:00:00" in html  # received on DAY2, shown in Beijing time
    assert "退单" in html and "审结" in html and UNDECLARED in html  # the refusal's reason names the waybill
    assert '<td class="num not-found">1</td>' in html
    page = eclient.get(f"/console/warehouse-entries/{ew.guid('a2')}")
    assert page.status_code == 200
    detail = page.text
    assert 'id="lines"' in detail and UNDECLARED in detail and "未收到该物流企业的运单" in detail
    assert 'id="receipts"' in detail and "-800001" in detail
    assert "<td>2026-11-13 11:00:00</td>" in detail.split('id="receipts"')[1]  # returned by DAY2's batch
    assert "/console/receipts/" in detail  # the receipts are addressed to this site: it may open them
    en = eclient.get(f"/console/warehouse-entries/{ew.guid('a2')}?lang=en").text
    assert "Warehouse-entry detail" in en and "no such waybill" in en and "refused" in en
    denied = eclient.get(f"/console/warehouse-entries/{ew.guid('b1')}")
    assert denied.status_code == 403 and "不是本企业发送的" in denied.text
    assert eclient.get("/console/warehouse-entries/NO-SUCH-GUID").status_code == 404


def test_filters_and_paging(ew: EntryWorld, eclient: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    login(eclient, ew.keys["admin"])
    assert _rows(eclient.get("/console/warehouse-entries?status=100").text) == [ew.guid("a2")]
    day2 = eclient.get("/console/warehouse-entries?since=2026-11-13&until=2026-11-13&status=").text
    assert _rows(day2) == [ew.guid("b1"), ew.guid("a2")]
    waybill = ew.entries["b1"].numbers[0]
    assert _rows(eclient.get(f"/console/warehouse-entries?waybill=+{waybill}+").text) == [ew.guid("b1")]
    assert eclient.get("/console/warehouse-entries?since=12/11/2026").status_code == 422
    assert eclient.get("/console/warehouse-entries?status=120").status_code == 422
    monkeypatch.setattr(pages_warehouse, "PAGE", 3)
    first = eclient.get("/console/warehouse-entries?status=399").text
    assert _rows(first) == [ew.guid("a3"), ew.guid("b1"), ew.guid("a1")] and 'id="older"' in first
    older = first.split('id="older"')[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "status=399" in older  # the filters go on to the next page
    assert _rows(eclient.get(f"/console/warehouse-entries{older}").text) == []
    assert _rows(eclient.get("/console/warehouse-entries").text)[:3] == [
        ew.guid("a3"),
        ew.guid("b1"),
        ew.guid("a2"),
    ]


def test_officers_see_their_district_and_others_are_refused(ew: EntryWorld, eclient: TestClient) -> None:
    login(eclient, ew.keys["officer-53"])
    html = eclient.get("/console/warehouse-entries").text
    assert _rows(html) == [ew.guid("b1")]
    detail = eclient.get(f"/console/warehouse-entries/{ew.guid('b1')}").text
    assert 'id="receipts"' in detail and "/console/receipts/" not in detail  # not addressed to customs
    r = eclient.get(f"/console/warehouse-entries/{ew.guid('a1')}?lang=en")
    assert r.status_code == 403 and "not declared in your district" in r.text
    login(eclient, ew.keys[SITE_B[0]])
    assert _rows(eclient.get("/console/warehouse-entries").text) == [ew.guid("b1")]
    login(eclient, ew.keys[ECOMMERCE])
    r = eclient.get("/console/warehouse-entries")
    assert r.status_code == 403 and "监管场所经营人" in r.text
    assert 'href="/console/warehouse-entries"' not in r.text  # no dead link in its navigation
