"""The console in a real browser: Debian's chromium driven by Playwright, against the real app under uvicorn.

The browser is never downloaded (no ``playwright install``): ``scripts/browser-for-tests.sh`` installs
Debian's ``chromium`` package.  Without it these tests fail, unless ``CBEC_TEST_NO_BROWSER=1`` says that
skipping them is intended.  Every page a test visits is saved to ``out/screenshots/<page>.png``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from tests.integration.console.world import World, build_world

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "out" / "screenshots"
CHROMIUM = os.environ.get("CBEC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_or_skip() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("CBEC_TEST_NO_BROWSER") == "1":
        pytest.skip(f"no chromium at {CHROMIUM} and CBEC_TEST_NO_BROWSER=1: console browser tests skipped")
    pytest.fail(
        f"no chromium at {CHROMIUM}: run scripts/browser-for-tests.sh (installs Debian's chromium as root), "
        "or set CBEC_TEST_NO_BROWSER=1 to skip the console's browser tests",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    world: World
    base: str


@contextmanager
def serving(app: FastAPI, name: str) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread of this process: its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """One Playwright driver for the run: a second sync driver cannot start while one is running."""
    from playwright.sync_api import sync_playwright

    _browser_or_skip()
    with sync_playwright() as pw:
        yield pw


@contextmanager
def chromium(driver: Any, profile: Path) -> Iterator[Any]:
    """Debian's chromium, headless, with a fresh user-data-dir ``profile``: a Playwright BrowserContext."""
    context = driver.chromium.launch_persistent_context(
        str(profile),
        executable_path=_browser_or_skip(),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1366, "height": 900},
        locale="zh-CN",
    )
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A populated store served on a free loopback port."""
    _browser_or_skip()
    world = build_world(tmp_path_factory.mktemp("e2e"))
    settings = ServiceSettings(clearing=False, webhooks=False)
    app = create_app(world.engine, settings=settings, params=world.params)
    with serving(app, "cbec-e2e-server") as base:
        yield Live(world, base)
    world.engine.dispose()


@pytest.fixture(scope="session")
def browser_context(
    live: Live, playwright_driver: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    with chromium(playwright_driver, tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser_context: object) -> Iterator[object]:
    from playwright.sync_api import BrowserContext

    assert isinstance(browser_context, BrowserContext)
    browser_context.clear_cookies()
    p = browser_context.new_page()
    p.set_default_timeout(20_000)
    yield p
    p.close()


def shot(page: object, name: str) -> None:
    """Save what the browser shows as ``out/screenshots/<name>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def console_login(page: Any, base: str, key: str) -> None:
    """Sign in to the console at ``base`` with an API key, as a user does on the login page."""
    page.goto(f"{base}/console/login")
    page.fill("#api_key", key)
    page.click("#login")
    page.wait_for_load_state()
