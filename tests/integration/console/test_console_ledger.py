"""The ledger pages (保税账册) through TestClient: stock, movements, held lists with reasons, reconciliation;
who may open which ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.integration.console.conftest import login
from tests.integration.console.ledger_world import ZONE_A, ZONE_B, LedgerWorld, build_ledger_world

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def lw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerWorld]:
    w = build_ledger_world(tmp_path_factory.mktemp("ledger-console"))
    yield w
    w.engine.dispose()


@pytest.fixture
def lclient(lw: LedgerWorld) -> Iterator[TestClient]:
    app = create_app(lw.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with TestClient(app) as client:
        yield client


def _zone_of(ems: str) -> tuple[str, str, str, str, str]:
    return next(z for z in (ZONE_A, ZONE_B) if z[4] == ems)


def test_the_zone_operator_sees_stock_holds_movements_and_reconciliation(
    lw: LedgerWorld, lclient: TestClient
) -> None:
    ems = lw.short_ems
    login(lclient, lw.keys[_zone_of(ems)[2]])
    listing = lclient.get("/console/ledgers")
    assert listing.status_code == 200 and ems in listing.text
    other = next(z[4] for z in (ZONE_A, ZONE_B) if z[4] != ems)
    assert other not in listing.text  # not its ledger
    page = lclient.get(f"/console/ledgers/{ems}")
    assert page.status_code == 200
    html = page.text
    assert 'id="stock"' in html and 'id="movements"' in html and 'id="reconciliation"' in html
    assert 'id="holds"' in html and "余额不足" in html  # the planted shortage holds a list, with its reason
    assert "一线入区" in html and "二线出区核减" in html
    en = lclient.get(f"/console/ledgers/{ems}?lang=en").text
    assert "insufficient" in en and "Held lists" in en and "write-off of a released list" in en
    assert 'class="diff"' in en  # the item counted one short
    denied = lclient.get(f"/console/ledgers/{other}")
    assert denied.status_code == 403 and "不是本企业的账册" in denied.text


def test_officers_see_their_district_and_others_are_refused(lw: LedgerWorld, lclient: TestClient) -> None:
    login(lclient, lw.keys["officer-29"])
    assert lclient.get(f"/console/ledgers/{ZONE_A[4]}").status_code == 200
    r = lclient.get(f"/console/ledgers/{ZONE_B[4]}")
    assert (
        r.status_code == 403
        and "not kept in your district" in lclient.get(f"/console/ledgers/{ZONE_B[4]}?lang=en").text
    )
    lclient.cookies.clear()
    login(lclient, lw.keys["3301960101"])
    r = lclient.get("/console/ledgers")
    assert r.status_code == 403
    nav = lclient.get("/console/search").text
    assert "/console/ledgers" not in nav
