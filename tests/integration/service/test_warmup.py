"""The service warms itself before its first request, and nothing in the warm-up can keep it from starting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from cbec.messages.spec import catalogue
from cbec.service.intake import read_body
from cbec.service.warmup import skeleton, warm_up
from cbec.store import connect


def test_every_data_type_has_a_skeleton_the_intake_reads_and_refuses() -> None:
    types = [name for name, spec in catalogue().messages.items() if spec.kind == "data"]
    assert {"CEB311Message", "CEB621Message", "CEB711Message", "CEB603Message"} <= set(types)
    for t in types:
        intake = read_body(skeleton(t), "application/xml")
        assert intake.decoded is not None and intake.decoded.message_type == t
        assert not intake.ok  # empty heads: required fields missing


def test_warm_up_reads_and_looks_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
    with caplog.at_level(logging.INFO, logger="cbec.service.warmup"):
        took = warm_up(engine, None)
    assert took > 0
    assert any("warmed up" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failing_step_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")  # cannot be opened
    with caplog.at_level(logging.INFO, logger="cbec.service.warmup"):
        warm_up(broken, broken)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("key look-up" in w for w in warnings) and any("database" in w for w in warnings)


def test_a_warmed_app_starts_serves_and_stored_nothing(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from cbec.service.app import create_app
    from cbec.service.context import ServiceSettings
    from cbec.store.schema import inbox

    engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
    settings = ServiceSettings(clearing=False, webhooks=False, warm_up=True)
    with TestClient(create_app(engine, settings=settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.post("/v1/messages", content=b"<x/>").status_code == 401
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 0
