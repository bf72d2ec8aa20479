"""The returns page in headless chromium: the administrator opens it from the navigation, reads import
returns (a refusal with its code, goods back on time and overdue) and export returns (a cross-district
return tallied at the filed site, a refused tally at an unfiled one, a consolidated master bill), filters
them, follows a master bill to its parcels and a parcel to its history; an officer reads it in English."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.e2e.conftest import _browser_or_skip, console_login, serving, shot
from tests.integration.console.returns_world import ReturnsWorld, build_returns_world

from cbec.service.app import create_app
from cbec.service.cast import ADMIN, OFFICER
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def returns_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReturnsWorld, str]]:
    _browser_or_skip()
    world = build_returns_world(tmp_path_factory.mktemp("e2e-returns"))
    app = create_app(world.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with serving(app, "cbec-e2e-returns") as base:
        yield world, base
    world.engine.dispose()


def test_administrator_reads_and_filters_returns(page: Page, returns_live: tuple[ReturnsWorld, str]) -> None:
    world, base = returns_live
    console_login(page, base, world.keys[ADMIN])
    page.click("nav >> text=退货")
    expect(page).to_have_url(re.compile(r"/console/returns$"))
    expect(page.locator("#import-returns")).to_contain_text("-625903")
    expect(page.locator("#import-returns")).to_contain_text("已运抵")
    expect(page.locator("#import-returns")).to_contain_text("逾期未运抵")
    expect(page.locator("#export-returns")).to_contain_text("跨关区")
    expect(page.locator("#export-returns")).to_contain_text("-215902")
    expect(page.locator("#export-returns")).to_contain_text("-213907")
    expect(page.locator("#master-bills")).to_be_visible()
    shot(page, "returns-all")
    page.locator("#import-counts a.istatus-link", has_text="100").click()
    expect(page.locator("#import-returns tr.import-return")).to_have_count(1)
    shot(page, "returns-import-refused")
    page.click("#cross-link")
    rows = page.locator("#export-returns tr.export-return")
    expect(rows.first).to_contain_text("跨关区")
    shot(page, "returns-cross-district")
    page.goto(f"{base}/console/returns")
    page.locator("#master-bills a.bill-link").first.click()
    expect(page).to_have_url(re.compile(r"/console/returns\?bill="))
    expect(page.locator("#exports-title")).to_contain_text("总运单")
    shot(page, "returns-master-bill")
    invt = page.locator("#export-returns a.parcel-link").first.inner_text()
    page.locator("#export-returns a.parcel-link").first.click()
    expect(page.locator("#history")).to_contain_text(invt)
    shot(page, "returns-parcel-history")


def test_officer_reads_returns_in_english(page: Page, returns_live: tuple[ReturnsWorld, str]) -> None:
    world, base = returns_live
    console_login(page, base, world.keys[OFFICER])
    page.goto(f"{base}/console/returns?lang=en")
    expect(page.locator("#imports-title")).to_contain_text("Import returns")
    expect(page.locator("#exports-title")).to_contain_text("Export returns")
    shot(page, "returns-officer-en")
