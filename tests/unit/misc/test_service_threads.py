"""The service commands run Polars on one thread unless the operator says otherwise (cbec/_threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cbec._threads import configure_service_threads

_PROBE = "import sys; sys.argv = {argv!r}; import cbec, polars; print(polars.thread_pool_size())"


def _pool_size(argv: list[str], **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"} | env
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        env=environ,
        check=True,
    )
    return int(done.stdout.strip())


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_service_commands_get_one_polars_thread(command: str) -> None:
    assert _pool_size(["-m", command]) == 1


def test_other_commands_keep_every_core() -> None:
    cores = _pool_size(["-m", "clear"])
    assert cores == _pool_size(["-m"]) and cores >= 1


def test_the_operators_setting_wins() -> None:
    assert _pool_size(["-m", "worker"], POLARS_MAX_THREADS="3") == 3


def test_not_applied_once_polars_is_loaded_or_for_other_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    # set, then removed, through monkeypatch: the value configure_service_threads sets below is undone
    # after the test (a bare delenv of an absent variable records nothing to restore)
    monkeypatch.setenv("POLARS_MAX_THREADS", "undo")
    monkeypatch.delenv("POLARS_MAX_THREADS")
    monkeypatch.setitem(sys.modules, "polars", sys)  # loaded already: too late to change
    assert configure_service_threads(["-m", "serve"]) is False
    monkeypatch.delitem(sys.modules, "polars")
    assert configure_service_threads(["/usr/bin/uvicorn", "serve"]) is False
    assert "POLARS_MAX_THREADS" not in os.environ
    assert configure_service_threads(["/venv/bin/cbec", "worker"]) is True
    assert os.environ["POLARS_MAX_THREADS"] == "1"
