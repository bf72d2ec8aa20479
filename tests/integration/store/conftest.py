"""Store fixtures: a real, migrated database per test.

Every test taking ``engine`` (or ``db_url``) runs twice: on a fresh SQLite file in ``tmp_path``, and on
PostgreSQL when ``CBEC_TEST_POSTGRES_URL`` names a scratch database (its cbec tables are emptied before
each test).  Without that variable the PostgreSQL runs are skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cbec.store import connect, reset

POSTGRES_ENV = "CBEC_TEST_POSTGRES_URL"
TEST_DATA_KEY = "Y2JlYyBzdG9yZSB0ZXN0cyBkYXRhIGtleSAzMiBieXQ="  # 32 bytes, base64: tests only


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cbec.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL variant not run: set {POSTGRES_ENV}=postgresql+psycopg://user:password@host/db "
            "(a scratch database whose tables the tests empty) and install psycopg[binary]"
        )
    if not os.environ.get("CBEC_DATA_KEY") and not os.environ.get("CBEC_DATA_KEY_FILE"):
        # a database that is not a SQLite file needs a configured data key (docs/privacy.md)
        request.getfixturevalue("monkeypatch").setenv("CBEC_DATA_KEY", TEST_DATA_KEY)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = connect(db_url)
    reset(eng)
    yield eng
    eng.dispose()
