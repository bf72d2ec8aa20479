"""Fixtures of the aftercare tests: one small corpus per session, a freshly cleared store per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _aftercare_testlib import World, cleared_world

from cbec.sim.generate import GeneratorConfig, write_corpus

TEST_DATA_KEY = "Y2JlYyBzdG9yZSB0ZXN0cyBkYXRhIGtleSAzMiBieXQ="  # 32 bytes, base64: tests only


@pytest.fixture(scope="session")
def aftercare_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 clean parcels: with 20 % review and 20 % inspection, lists end at 300, 500 and 800."""
    corpus = tmp_path_factory.mktemp("aftercare") / "in"
    write_corpus(corpus, GeneratorConfig(parcels=40, seed=3))
    return corpus


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, aftercare_corpus: Path, tmp_path: Path) -> Iterator[World]:
    """The corpus cleared into a fresh store: SQLite, and PostgreSQL when ``CBEC_TEST_POSTGRES_URL`` names a
    scratch database (its tables are emptied first), as in the store tests."""
    url = f"sqlite:///{tmp_path / 'cbec.db'}"
    if request.param == "postgresql":
        url = os.environ.get("CBEC_TEST_POSTGRES_URL", "")
        if not url:
            pytest.skip("PostgreSQL variant not run: set CBEC_TEST_POSTGRES_URL to a scratch database")
        if not os.environ.get("CBEC_BUYER_KEY_SECRET") and not os.environ.get("CBEC_BUYER_KEY_FILE"):
            # a database that is not a SQLite file needs an operator secret for the buyer keys
            request.getfixturevalue("monkeypatch").setenv("CBEC_BUYER_KEY_SECRET", "cbec aftercare tests")
        if not os.environ.get("CBEC_DATA_KEY") and not os.environ.get("CBEC_DATA_KEY_FILE"):
            # and a data key for the personal data it stores encrypted (docs/privacy.md)
            request.getfixturevalue("monkeypatch").setenv("CBEC_DATA_KEY", TEST_DATA_KEY)
    world = cleared_world(aftercare_corpus, tmp_path, url)
    yield world
    world.engine.dispose()
