"""One populated store for all the console's TestClient tests (see ``world.py``), and a client per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.integration.console.world import World, build_world

from cbec.service.app import create_app
from cbec.service.context import ServiceSettings


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("console"))
    yield w
    w.engine.dispose()


@pytest.fixture(scope="session")
def app_client(world: World) -> Iterator[TestClient]:
    settings = ServiceSettings(clearing=False, webhooks=False)
    app = create_app(world.engine, settings=settings, params=world.params)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> Iterator[TestClient]:
    app_client.cookies.clear()
    yield app_client
    app_client.cookies.clear()


def login(client: TestClient, key: str) -> None:
    r = client.post("/console/login", data={"api_key": key, "next": "/console/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
