"""cbec sets Polars' allocator retention before Polars loads (why: cbec/_allocator.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from cbec._allocator import RETAIN_MS

PROBE = "import os, cbec, polars; print(os.environ['_RJEM_MALLOC_CONF'])"


def _conf(extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"} | extra_env
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_cbec_first_sets_the_retention_after_polars_defaults() -> None:
    options = _conf({}).split(",")
    # jemalloc applies options left to right: ours come after Polars' own defaults, so they win
    assert options[-2:] == [f"dirty_decay_ms:{RETAIN_MS}", f"muzzy_decay_ms:{RETAIN_MS}"]


def test_an_operators_own_setting_comes_last_and_wins() -> None:
    options = _conf({"_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}).split(",")
    assert options[-1] == "dirty_decay_ms:0"
    assert f"dirty_decay_ms:{RETAIN_MS}" in options


def test_too_late_once_polars_is_loaded() -> None:
    import polars  # noqa: F401

    from cbec._allocator import configure_polars_allocator

    before = os.environ.get("_RJEM_MALLOC_CONF")
    assert configure_polars_allocator() is False
    assert os.environ.get("_RJEM_MALLOC_CONF") == before
