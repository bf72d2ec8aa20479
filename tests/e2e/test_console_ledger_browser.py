"""The ledger page in headless chromium: the zone operator opens its ledger from the list and sees the stock,
the list held by the planted shortage with its reason, the movements and the reconciliation (zh, en)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.e2e.conftest import serving, shot
from tests.integration.console.ledger_world import ZONE_A, ZONE_B, LedgerWorld, build_ledger_world

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def ledger_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LedgerWorld, str]]:
    world = build_ledger_world(tmp_path_factory.mktemp("e2e-ledger"))
    app = create_app(world.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with serving(app, "cbec-e2e-ledger") as base:
        yield world, base
    world.engine.dispose()


def test_operator_reads_its_ledger(page: Page, ledger_live: tuple[LedgerWorld, str]) -> None:
    world, base = ledger_live
    ems = world.short_ems
    zone = next(z for z in (ZONE_A, ZONE_B) if z[4] == ems)
    page.goto(f"{base}/console/login")
    page.fill("#api_key", world.keys[zone[2]])
    page.click("#login")
    page.wait_for_load_state()
    page.goto(f"{base}/console/ledgers")
    expect(page.locator("#ledgers")).to_contain_text(ems)
    page.click("a.ledger-link")
    expect(page.locator("h1")).to_contain_text(ems)
    expect(page.locator("#stock")).to_be_visible()
    expect(page.locator("#holds .reason").first).to_contain_text("余额不足")
    expect(page.locator("#movements")).to_contain_text("二线出区核减")
    expect(page.locator("#reconciliation tr.diff")).to_have_count(1)
    shot(page, "ledger-zh")
    page.click("#lang-en")
    page.wait_for_load_state()
    expect(page.locator("#holds .reason").first).to_contain_text("insufficient")
    shot(page, "ledger-en")
