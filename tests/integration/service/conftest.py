"""A service on a temporary SQLite database with the generator's cast filed, and generated traffic."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cbec.engine.clear import iter_inputs
from cbec.service.app import create_app
from cbec.service.cast import Cast, file_cast, use_signing_dir
from cbec.service.context import ServiceSettings
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect, data_key, reset
from cbec.store import spool as spool_repo

COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")


@dataclass
class Service:
    engine: Engine
    client: TestClient
    cast: Cast
    traffic: Path

    def send(self, data: bytes, key: str, content_type: str = "application/xml") -> object:
        return self.client.post(
            "/v1/messages", content=data, headers={"X-API-Key": key, "Content-Type": content_type}
        )

    def sender_key(self, data: bytes) -> str:
        found = COP.search(data)
        assert found, "no copCode in the message"
        return self.cast.keys[found.group(1).decode()]

    def files(self) -> list[tuple[str, bytes]]:
        return list(iter_inputs(self.traffic))

    def wait_cleared(self, timeout: float = 60.0) -> None:
        wait_cleared(self.engine, timeout)


def wait_cleared(engine: Engine, timeout: float = 60.0) -> None:
    """Until the clearing loop has processed everything accepted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not spool_repo.unprocessed(engine):  # the intake spool too (cbec serve on SQLite)
            return
        time.sleep(0.05)
    raise AssertionError("the clearing loop did not finish in time")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    url: str, port: int, log: Path, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """``cbec serve`` (no webhooks) as a process of its own, once it answers ``/health``."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "cbec.cli", "serve", "--port", str(port)),
            *("--database", url, "--no-webhooks", *extra),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"service did not start: {log.read_text()[-2000:]}")


POSTGRES_ENV = "CBEC_TEST_POSTGRES_URL"
TEST_SECRETS = {
    # the same data key as the store and engine tests: one process caches a database's keys (data_key)
    "CBEC_DATA_KEY": "Y2JlYyBzdG9yZSB0ZXN0cyBkYXRhIGtleSAzMiBieXQ=",  # 32 bytes, base64: tests only
    "CBEC_BUYER_KEY_SECRET": "cbec service tests buyer-key secret",
}


def database_url(backend: str, folder: Path) -> str:
    """A fresh database of ``backend`` (the PostgreSQL scratch database emptied; skipped without one)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'cbec.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL variant not run: set {POSTGRES_ENV} (scripts/test.sh does)")
    engine = connect(url)
    reset(engine)
    data_key.forget(engine)  # read the key configured for this test, not one cached by an earlier one
    engine.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("service")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "postgresql":
            for name, value in TEST_SECRETS.items():
                mp.setenv(name, value)
        engine = connect(database_url(request.param, root))
        cast = file_cast(engine, root / "keys")
        use_signing_dir(cast)
        traffic = root / "traffic"
        write_corpus(traffic, GeneratorConfig(parcels=40, seed=7, docs_per_message=(1, 10)), workers=1)
        # webhooks are delivered by the tests themselves (test_webhooks.py), attempt by attempt
        app = create_app(engine, settings=ServiceSettings(webhooks=False))
        with TestClient(app) as client:
            yield Service(engine, client, cast, traffic)
        engine.dispose()
