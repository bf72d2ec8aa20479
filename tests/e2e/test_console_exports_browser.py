"""The summary and export pages in headless chromium: a consignor opens the month's applications, follows a
declaration to its lines, a line to the lists it took and a list to the parcel's history; the administrator
reads the export page (statuses, refusals, movements, pre-refund lines) in English."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.e2e.conftest import _browser_or_skip, console_login, serving, shot
from tests.integration.console.export_world import PERIOD, ExportWorld, build_export_world

from cbec.service.app import create_app
from cbec.service.cast import ADMIN
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def export_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExportWorld, str]]:
    _browser_or_skip()
    world = build_export_world(tmp_path_factory.mktemp("e2e-exports"))
    app = create_app(world.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with serving(app, "cbec-e2e-exports") as base:
        yield world, base
    world.engine.dispose()


def test_consignor_drills_down_from_summary_to_parcel(
    page: Page, export_live: tuple[ExportWorld, str]
) -> None:
    world, base = export_live
    supplementary = next(a for a in world.late if a["supplement"] == 1)
    console_login(page, base, world.keys[str(supplementary["ebc_code"])])
    page.click("nav >> text=汇总申报")
    expect(page).to_have_url(re.compile(r"/console/summaries$"))
    expect(page.locator("#periods")).to_contain_text(PERIOD)
    expect(page.locator("#due")).to_contain_text("2026-12-15")
    expect(page.locator("#applications")).to_contain_text("逾期")
    shot(page, "summaries")
    page.locator("a.summary-link").first.click()
    expect(page.locator("#declarations")).to_be_visible()
    shot(page, "summary-application")
    page.locator("a.decl-link").first.click()
    expect(page.locator("#decl-lines")).to_be_visible()
    shot(page, "summary-declaration-lines")
    page.locator("a.line-link").first.click()
    expect(page.locator("#list-lines")).to_be_visible()
    shot(page, "summary-list-lines")
    invt = page.locator("a.parcel-link").first.inner_text()
    page.locator("a.parcel-link").first.click()
    expect(page.locator("#history")).to_contain_text(invt)  # the number cbec gave the list
    expect(page.locator("#history")).to_contain_text("CEB603Message")
    expect(page.locator("#history")).to_contain_text("899")
    shot(page, "summary-parcel-history")


def test_administrator_reads_the_export_page_in_english(
    page: Page, export_live: tuple[ExportWorld, str]
) -> None:
    world, base = export_live
    console_login(page, base, world.keys[ADMIN])
    page.goto(f"{base}/console/exports?lang=en")
    expect(page.locator("#status-counts")).to_contain_text("899")
    expect(page.locator("#movements")).to_contain_text("departure")
    expect(page.locator("#refunds")).to_contain_text("partly trued up")
    shot(page, "exports")
    page.locator("#status-counts a.status-link", has_text="100").click()
    expect(page.locator("#lists .reason").first).to_contain_text("-6039")
    shot(page, "exports-refused")
