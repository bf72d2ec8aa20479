"""Fixtures of the aftercare tests: one small corpus per session, a freshly cleared store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from _aftercare_testlib import World, cleared_world

from cbec.sim.generate import GeneratorConfig, write_corpus


@pytest.fixture(scope="session")
def aftercare_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 clean parcels: with 20 % review and 20 % inspection, lists end at 300, 500 and 800."""
    corpus = tmp_path_factory.mktemp("aftercare") / "in"
    write_corpus(corpus, GeneratorConfig(parcels=40, seed=3))
    return corpus


@pytest.fixture
def world(aftercare_corpus: Path, tmp_path: Path) -> World:
    return cleared_world(aftercare_corpus, tmp_path)
