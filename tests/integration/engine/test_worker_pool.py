"""The clearing run's worker processes: spawned with one Polars thread each, unless the operator chose.

These start real spawned processes (a second or two each), hence integration tests.
"""

from __future__ import annotations

import os

import pytest

from cbec.engine.pipeline import WORKER_POLARS_THREADS, spawn_pool


def _pool_threads() -> int:
    import polars as pl

    return pl.thread_pool_size()


def _worker_threads() -> list[int]:
    pool = spawn_pool(2)
    try:
        return [pool.submit(_pool_threads).result(timeout=120) for _ in range(4)]
    finally:
        pool.shutdown()


def test_workers_start_with_one_polars_thread_and_leave_the_environment_alone() -> None:
    assert "POLARS_MAX_THREADS" not in os.environ  # the suite's own run does not set it
    assert set(_worker_threads()) == {WORKER_POLARS_THREADS}
    assert "POLARS_MAX_THREADS" not in os.environ


def test_an_operators_thread_count_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARS_MAX_THREADS", "2")
    assert set(_worker_threads()) == {2}
    assert os.environ["POLARS_MAX_THREADS"] == "2"
