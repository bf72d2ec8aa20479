"""The returns page (``/console/returns``) through TestClient: import returns with their answer, quota and tax
given back and goods-back state; export returns with reasons, tallies, the cross-district flag and the
consolidated master bill; filters; drill-down to the parcel history; who sees what; 中文 and English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.console.conftest import login
from tests.integration.console.returns_world import ReturnsWorld, build_returns_world

from cbec.service.app import create_app
from cbec.service.cast import ADMIN, OFFICER
from cbec.service.context import ServiceSettings
from cbec.sim.parties import PAYMENT
from cbec.sim.returns import SITE
from cbec.store.schema import export_return


@pytest.fixture(scope="module")
def rworld(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReturnsWorld]:
    w = build_returns_world(tmp_path_factory.mktemp("returns-console"))
    yield w
    w.engine.dispose()


@pytest.fixture
def rclient(rworld: ReturnsWorld) -> Iterator[TestClient]:
    app = create_app(rworld.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with TestClient(app) as client:
        yield client


def _as(client: TestClient, w: ReturnsWorld, who: str) -> None:
    client.cookies.clear()
    login(client, w.keys[who])


def _rows(html: str, cls: str) -> list[str]:
    return re.findall(rf'<tr class="{cls}[^"]*".*?</tr>', html, flags=re.S)


def test_the_page_needs_a_login(rclient: TestClient) -> None:
    r = rclient.get("/console/returns", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_an_administrator_sees_every_return_with_its_state(rclient: TestClient, rworld: ReturnsWorld) -> None:
    _as(rclient, rworld, ADMIN)
    r = rclient.get("/console/returns?lang=en")
    assert r.status_code == 200
    html = r.text
    assert 'href="/console/returns"' in html  # in the navigation
    imports = _rows(html, "import-return")
    assert len(imports) == len(rworld.imports)
    refused = [x for x in imports if "istatus-100" in x]
    assert len(refused) == 1 and "-625903" in refused[0]
    assert f'data-guid="{rworld.back_on_time}"' in next(x for x in imports if "goods-back" in x)
    assert sum("goods-overdue" in x for x in imports) == len(imports) - 2  # the others are past 45 days
    assert all(re.search(r"<td class=\"num\">\d+\.\d\d</td>", x) for x in imports)  # quota, tax given back
    exports = _rows(html, "export-return")
    assert len(exports) == len(rworld.exports)
    assert any("-213907" in x and "estatus-100" in x for x in exports)
    unfiled = next(x for x in exports if "-215902" in x)
    assert "estatus-120" in unfiled and re.search(r"cross-district \(\d\d00 → 2200\)", unfiled)
    assert any("cross-district" in x and SITE.code in x and "399 tallied" in x for x in exports)
    assert any("tax exempt" in x or "taxed" in x for x in exports)
    bills = _rows(html, "master-bill")
    assert bills and all("bill-link" in b for b in bills)
    assert 'class="parcel-link" href="/console/search?by=invtNo&q=' in html


def test_filters(rclient: TestClient, rworld: ReturnsWorld) -> None:
    _as(rclient, rworld, ADMIN)
    refused = _rows(rclient.get("/console/returns?istatus=100").text, "import-return")
    assert len(refused) == 1 and "istatus-100" in refused[0]
    overdue = _rows(rclient.get("/console/returns?goods=overdue").text, "import-return")
    assert overdue and all("goods-overdue" in x for x in overdue)
    released = _rows(rclient.get("/console/returns?estatus=800").text, "export-return")
    assert released and all("estatus-800" in x for x in released)
    cross = _rows(rclient.get("/console/returns?cross=1").text, "export-return")
    assert cross and all(" cross" in x.split(">")[0] for x in cross)
    bill_no = next(m["billNo"] for m in rworld.exports if m["billNo"])
    on_bill = _rows(rclient.get(f"/console/returns?bill={bill_no}").text, "export-return")
    expected = {m["coElNo"] for m in rworld.exports if m["billNo"] == bill_no}
    assert {re.search(r'data-co-el-no="([^"]+)"', x).group(1) for x in on_bill} == expected  # type: ignore[union-attr]
    assert rclient.get("/console/returns?goods=lost").status_code == 422


def test_drill_down_to_the_parcel_history(rclient: TestClient, rworld: ReturnsWorld) -> None:
    _as(rclient, rworld, ADMIN)
    html = rclient.get("/console/returns").text
    invt = re.search(r'class="export-return.*?href="/console/search\?by=invtNo&q=([0-9A-Z]+)"', html, re.S)
    assert invt
    history = rclient.get(f"/console/search?by=invtNo&q={invt.group(1)}")
    assert history.status_code == 200 and invt.group(1) in history.text


def test_who_sees_what(rclient: TestClient, rworld: ReturnsWorld) -> None:
    with rworld.engine.connect() as conn:
        rows = conn.execute(
            select(export_return.c.co_el_no, export_return.c.agent_code, export_return.c.customs_code,
                   export_return.c.export_customs)
        ).all()  # fmt: skip
    _as(rclient, rworld, OFFICER)  # Hangzhou (2900): returns that left or re-entered through it
    seen = set(re.findall(r'data-co-el-no="([^"]+)"', rclient.get("/console/returns").text))
    assert seen == {r.co_el_no for r in rows if "29" in (r.customs_code[:2], (r.export_customs or "")[:2])}
    agent = rows[0].agent_code
    _as(rclient, rworld, agent)
    seen = set(re.findall(r'data-co-el-no="([^"]+)"', rclient.get("/console/returns").text))
    # its own, and those of the consignors that entrust it (the cast's grants)
    assert seen >= {r.co_el_no for r in rows if r.agent_code == agent}
    _as(rclient, rworld, SITE.code)  # the Ningbo site sees the parcels it tallied
    page = rclient.get("/console/returns").text
    assert _rows(page, "export-return") and all(SITE.code in x for x in _rows(page, "export-return"))
    assert not _rows(page, "import-return")
    _as(rclient, rworld, PAYMENT[0].code)  # a payment company is party to no return
    page = rclient.get("/console/returns?lang=zh").text
    assert not _rows(page, "export-return") and not _rows(page, "import-return") and "暂无数据" in page


def test_chinese_and_english(rclient: TestClient, rworld: ReturnsWorld) -> None:
    _as(rclient, rworld, ADMIN)
    zh = rclient.get("/console/returns?lang=zh").text
    assert "进口退货（CEB625/626）" in zh and "退货合包总运单" in zh and "跨关区" in zh
    en = rclient.get("/console/returns?lang=en").text
    assert "Import returns (CEB625/626)" in en and "Consolidated return master bills" in en
    assert "进口退货（CEB625/626）" not in en
