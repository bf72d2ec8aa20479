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
