"""The gate board in headless chromium: the zone operator reads its vehicles and passes; an officer holds a
pass from its row, the vehicle under it is stopped for that hold at the gate, and the officer lifts it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from tests.e2e.conftest import _browser_or_skip, chromium, console_login, serving, shot
from tests.integration.console.gate_world import OFFICER_A, ZONE_A, GateWorld, build_gate_world

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="module")
def gate_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GateWorld, str]]:
    _browser_or_skip()
    world = build_gate_world(tmp_path_factory.mktemp("e2e-gate"))
    app = create_app(world.engine, settings=ServiceSettings(clearing=False, webhooks=False))
    with serving(app, "cbec-e2e-gate") as base:
        yield world, base
    world.engine.dispose()


@pytest.fixture(scope="module")
def gate_browser(
    gate_live: tuple[GateWorld, str], playwright_driver: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """A browser of its own (the session's shared one is tied to the larger console store)."""
    with chromium(playwright_driver, tmp_path_factory.mktemp("chromium-gate")) as context:
        yield context


@pytest.fixture
def gpage(gate_browser: BrowserContext) -> Iterator[Page]:
    gate_browser.clear_cookies()
    p = gate_browser.new_page()
    p.set_default_timeout(20_000)
    yield p
    p.close()


def test_operator_reads_the_gate_board(gpage: Page, gate_live: tuple[GateWorld, str]) -> None:
    world, base = gate_live
    console_login(gpage, base, world.keys[ZONE_A[2]])
    gpage.click("header nav >> text=闸口看板")
    expect(gpage.locator("h1")).to_contain_text("闸口看板")
    expect(gpage.locator("#vehicles")).to_have_text("3")
    expect(gpage.locator("tr[data-event='w-2'] .reasons")).to_contain_text("超过核放单总重")
    expect(gpage.locator("#stop-reasons")).to_contain_text("超重")
    expect(gpage.locator("#passes")).to_contain_text(world.passes["GA-00004"]["no"])
    expect(gpage.locator("#hold-form")).to_have_count(0)
    shot(gpage, "gate-operator-zh")
    gpage.click("#lang-en")
    gpage.wait_for_load_state()
    expect(gpage.locator("tr[data-event='w-3'] .reasons")).to_contain_text("no gate pass was found")
    shot(gpage, "gate-operator-en")


def test_officer_holds_a_pass_then_lifts_it(gpage: Page, gate_live: tuple[GateWorld, str]) -> None:
    world, base = gate_live
    p = world.passes["GA-00003"]
    console_login(gpage, base, world.keys[OFFICER_A])
    gpage.goto(f"{base}/console/gate?lang=zh")
    gpage.locator(f"tr[data-pass='{p['no']}'] a.hold-pass").click()
    expect(gpage.locator("#target")).to_have_value(p["no"])
    gpage.fill("#hold-reason-zh", "可疑货物")
    gpage.fill("#hold-reason-en", "suspect cargo")
    gpage.click("#place-hold")
    expect(gpage.locator("#done")).to_contain_text("已布控")
    expect(gpage.locator("#active-holds")).to_contain_text("可疑货物")

    vehicle = {
        "eventId": "browser-1",
        "lane": "L2",
        "vehicleNo": p["plate"],
        "vehicleIcNo": p["ic"],
        "containerNo": p["box"],
        "weight": str(p["total_g"] / 1000),
        "at": datetime.now(UTC).isoformat(),
    }
    key = {"X-API-Key": world.keys[ZONE_A[2]]}
    stopped = httpx.post(f"{base}/v1/gate/events", json=vehicle, headers=key, timeout=30).json()
    assert stopped["decision"] == "STOP" and stopped["reasons"][0]["code"] == "pass-held"
    gpage.reload()
    expect(gpage.locator("tr[data-event='browser-1'] .reasons")).to_contain_text("可疑货物")
    shot(gpage, "gate-officer-held")

    gpage.locator("#active-holds button.lift-hold").first.click()
    expect(gpage.locator("#done")).to_contain_text("已撤销布控")
    expect(gpage.locator("#no-holds")).to_be_visible()
    lifted = httpx.post(
        f"{base}/v1/gate/events", json={**vehicle, "eventId": "browser-2"}, headers=key, timeout=30
    ).json()
    assert lifted["decision"] == "LIFT"
    gpage.reload()
    expect(gpage.locator("tr[data-event='browser-2'] .decision")).to_contain_text("抬杆放行")
    shot(gpage, "gate-officer-lifted")
