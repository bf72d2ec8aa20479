"""The summary (汇总申报) and export (出口清单) pages through TestClient: months, applications with due dates
and late flags, drill-down from a declaration to its lines and from a line to the list lines it took and the
parcel's history; lists by status with reasons, movements, pre-refund lines; who sees what; 中文 and English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.console.conftest import login
from tests.integration.console.export_world import PERIOD, ExportWorld, build_export_world

from cbec.service.app import create_app
from cbec.service.cast import ADMIN, OFFICER
from cbec.service.context import ServiceSettings
from cbec.store.schema import export_list


@pytest.fixture(scope="module")
def xw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportWorld]:
    w = build_export_world(tmp_path_factory.mktemp("export-console"))
    yield w
    w.engine.dispose()


@pytest.fixture
def xclient(xw: ExportWorld) -> Iterator[TestClient]:
    app = create_app(xw.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with TestClient(app) as client:
        yield client


def _as(client: TestClient, xw: ExportWorld, who: str) -> None:
    client.cookies.clear()
    login(client, xw.keys[who])


def _sum_nos(html: str) -> set[str]:
    return set(re.findall(r'class="summary-link" href="/console/summaries/([0-9A-Z]+)"', html))


def test_pages_need_a_login(xclient: TestClient) -> None:
    for url in ("/console/summaries", "/console/exports", "/console/summaries/29002026S000000001"):
        r = xclient.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_a_consignor_sees_its_applications_with_due_dates_and_late_flags(
    xclient: TestClient, xw: ExportWorld
) -> None:
    supplementary = next(a for a in xw.late if a["supplement"] == 1)
    ebc = str(supplementary["ebc_code"])
    _as(xclient, xw, ebc)
    r = xclient.get(f"/console/summaries?period={PERIOD}&lang=en")
    assert r.status_code == 200
    mine = {str(a["sum_no"]) for a in (*xw.first, *xw.late) if a["ebc_code"] == ebc}
    assert _sum_nos(r.text) == mine
    assert "Due 2026-12-15" in r.text and "supplementary 1" in r.text
    # the first application was filed on 2026-12-03 (on time), the supplementary one on 2026-12-22 (late)
    rows = re.findall(
        r'<tr class="(late)?"><td><a class="summary-link" href="/console/summaries/([0-9A-Z]+)"', r.text
    )
    late = {n for flag, n in rows if flag}
    assert late == {str(a["sum_no"]) for a in xw.late if a["ebc_code"] == ebc}
    zh = xclient.get(f"/console/summaries?period={PERIOD}&lang=zh").text
    assert "汇总申报" in zh and "逾期" in zh and "补充" in zh
    assert 'href="/console/summaries"' in zh  # in the navigation


def test_drill_down_from_declaration_to_lines_to_lists_to_history(
    xclient: TestClient, xw: ExportWorld
) -> None:
    app = xw.first[0]
    _as(xclient, xw, str(app["ebc_code"]))
    sum_no = str(app["sum_no"])
    page = xclient.get(f"/console/summaries/{sum_no}?lang=en")
    assert page.status_code == 200 and sum_no in page.text
    decls = re.findall(r'class="decl-link" href="([^"]+)">(\w+)<', page.text)
    assert len(decls) == app["declarations"]
    href, decl_seq = decls[0]
    lines = xclient.get(href.replace("&amp;", "&").split("#")[0])
    assert decl_seq in lines.text and 'id="decl-lines"' in lines.text
    line_links = re.findall(r'class="line-link" href="([^"]+)"', lines.text)
    assert line_links
    taken = xclient.get(line_links[0].replace("&amp;", "&").split("#")[0])
    assert 'id="list-lines"' in taken.text
    invts = re.findall(r'class="parcel-link" href="/console/search\?by=invtNo&(?:amp;)?q=(\w+)"', taken.text)
    assert invts
    with xw.engine.connect() as conn:
        ebcs = set(conn.scalars(select(export_list.c.ebc_code).where(export_list.c.invt_no.in_(invts))))
    assert ebcs == {app["ebc_code"]}
    history = xclient.get(f"/console/search?by=invtNo&q={invts[0]}")
    assert history.status_code == 200 and invts[0] in history.text and "CEB603Message" in history.text


def test_who_sees_which_application(xclient: TestClient, xw: ExportWorld) -> None:
    app = xw.first[0]
    sum_no = str(app["sum_no"])
    other = next(str(a["ebc_code"]) for a in xw.first if a["ebc_code"] != app["ebc_code"])
    _as(xclient, xw, other)
    r = xclient.get(f"/console/summaries/{sum_no}?lang=en")
    assert r.status_code == 404 and "no summary application" in r.text
    _as(xclient, xw, OFFICER)  # district 2900
    seen = _sum_nos(xclient.get(f"/console/summaries?period={PERIOD}").text)
    every = {str(a["sum_no"]): str(a["customs_code"]) for a in (*xw.first, *xw.late)}
    assert seen == {n for n, c in every.items() if c.startswith("29")}
    _as(xclient, xw, ADMIN)
    assert _sum_nos(xclient.get(f"/console/summaries?period={PERIOD}").text) == set(every)


def test_the_export_page_shows_statuses_reasons_movements_and_prerefunds(
    xclient: TestClient, xw: ExportWorld
) -> None:
    _as(xclient, xw, ADMIN)
    r = xclient.get("/console/exports?lang=en")
    assert r.status_code == 200
    with xw.engine.connect() as conn:
        statuses = [s for (s,) in conn.execute(select(export_list.c.status))]
    for s in (899, 100):
        count = re.search(rf'id="count-{s}">(\d+)<', r.text)
        assert count and int(count[1]) == statuses.count(s)
    assert "Arrivals and departures" in r.text and "departure" in r.text
    invt, _gnum = xw.trued
    assert invt in r.text and "partly trued up" in r.text
    refused = xclient.get("/console/exports?status=100&lang=en").text
    rows = re.findall(r'<tr class="status-(\d+)">', refused)
    assert rows and set(rows) == {"100"}
    assert re.search(r'class="reason">-6039\d\d ', refused)  # the code and reason of the refusal
    # a cleared list names the application that summarised it
    cleared = xclient.get("/console/exports?status=899").text
    linked = set(re.findall(r'class="sum-link" href="/console/summaries/(\w+)"', cleared))
    assert linked and linked <= {str(a["sum_no"]) for a in (*xw.first, *xw.late)}
    zh = xclient.get("/console/exports?lang=zh").text
    assert "清单状态" in zh and "离境即退税" in zh and "运抵" in zh


def test_an_enterprise_sees_only_its_own_export_lists(xclient: TestClient, xw: ExportWorld) -> None:
    ebc = str(xw.first[0]["ebc_code"])
    _as(xclient, xw, ebc)
    html = xclient.get("/console/exports").text
    shown = set(re.findall(r'class="parcel-link" href="/console/search\?by=invtNo&(?:amp;)?q=(\w+)"', html))
    with xw.engine.connect() as conn:
        own = set(conn.scalars(select(export_list.c.invt_no).where(export_list.c.ebc_code == ebc)))
    assert shown and shown <= own
