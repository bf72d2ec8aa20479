"""The warehouse-entry pages in headless chromium: a supervised site opens 入库明细单 from the navigation,
sees its entries with status and lines not declared, filters the refused ones, opens the refused entry and
reads which waybill was not declared and the CEB712 returns (zh, en); an officer of another district is
refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.e2e.conftest import console_login, serving, shot
from tests.integration.console.entry_world import SITE_A, UNDECLARED, EntryWorld, build_entry_world

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def entry_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EntryWorld, str]]:
    world = build_entry_world(tmp_path_factory.mktemp("e2e-entries"))
    app = create_app(world.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with serving(app, "cbec-e2e-entries") as base:
        yield world, base
    world.engine.dispose()


def test_site_reads_its_entries_and_a_refused_one(page: Page, entry_live: tuple[EntryWorld, str]) -> None:
    world, base = entry_live
    console_login(page, base, world.keys[SITE_A[0]])
    page.click('header nav a[href="/console/warehouse-entries"]')
    page.wait_for_load_state()
    rows = page.locator("#entries tr[data-guid]")
    expect(rows).to_have_count(3)
    expect(page.locator("#entries tr.refused .reason")).to_contain_text(UNDECLARED)
    expect(page.locator("#entries tr.refused .not-found")).to_have_text("1")
    shot(page, "warehouse-entries-zh")
    page.select_option("#status", "100")
    page.click("#apply")
    page.wait_for_load_state()
    expect(rows).to_have_count(1)
    page.click("a.entry-link")
    page.wait_for_load_state()
    expect(page.locator("h1")).to_contain_text(world.entries["a2"].cop_no)
    expect(page.locator("#lines tr.refused")).to_contain_text(UNDECLARED)
    expect(page.locator("#receipts")).to_contain_text("-800001")
    shot(page, "warehouse-entry-zh")
    page.click("#lang-en")
    page.wait_for_load_state()
    expect(page.locator("#lines tr.refused .found")).to_contain_text("no such waybill")
    expect(page.locator("#status")).to_contain_text("refused")
    shot(page, "warehouse-entry-en")


def test_officer_of_another_district_is_refused(page: Page, entry_live: tuple[EntryWorld, str]) -> None:
    world, base = entry_live
    console_login(page, base, world.keys["officer-53"])
    page.goto(f"{base}/console/warehouse-entries/{world.guid('a1')}?lang=en")
    expect(page.locator("main")).to_contain_text("not declared in your district")
    page.goto(f"{base}/console/warehouse-entries")
    expect(page.locator("#entries tr[data-guid]")).to_have_count(1)
    shot(page, "warehouse-entries-officer-en")
