"""``cbec serve --processes 2``: HTTP processes on one port; the first alone clears; they stop together."""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.integration.service.conftest import free_port, start_serve, wait_cleared

from cbec.engine.clear import iter_inputs
from cbec.service.cast import file_cast, use_signing_dir
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store.schema import inbox, receipt

COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")
pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = set()
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.add(pid)
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_two_processes_share_the_port_and_stop_with_the_parent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cbec.db'}"
    engine = connect(url)
    cast = file_cast(engine, tmp_path / "keys")
    use_signing_dir(cast)
    write_corpus(
        tmp_path / "traffic", GeneratorConfig(parcels=120, seed=5, docs_per_message=(1, 6)), workers=1
    )
    messages = [data for _n, data in iter_inputs(tmp_path / "traffic")]
    keys = [cast.keys[COP.search(m).group(1).decode()] for m in messages]  # type: ignore[union-attr]
    port = free_port()
    proc = start_serve(url, port, tmp_path / "serve.log", extra=("--processes", "2"))
    try:
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:  # the child + the resource sharer
            time.sleep(0.1)
        http_children = _children(proc.pid)
        assert http_children, "no child process started"
        answered = set()
        for _ in range(40):  # new connections are spread over the processes' sockets (SO_REUSEPORT)
            with httpx.Client(timeout=10) as client:
                answered.add(client.get(f"http://127.0.0.1:{port}/health").json()["process"])
        assert proc.pid in answered and answered & http_children, answered

        def send(i: int) -> int:
            with httpx.Client(timeout=30) as client:  # a connection per request: both processes accept
                r = client.post(
                    f"http://127.0.0.1:{port}/v1/messages",
                    content=messages[i],
                    headers={"X-API-Key": keys[i], "Content-Type": "application/xml"},
                )
            return r.status_code

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(send, range(len(messages))))
        assert statuses == [202] * len(messages)
        wait_cleared(engine, 120)  # the parent clears what both processes took in
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == len(messages)
            assert conn.execute(select(func.count()).select_from(receipt)).scalar_one() > 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # even killed, the parent takes its children with it
        proc.wait()
    assert _gone(http_children, 10), "a child kept running after its parent was killed"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)

    # stopped politely, the parent stops its children and exits
    proc = start_serve(url, port, tmp_path / "serve.log", extra=("--processes", "2"))
    deadline = time.monotonic() + 60
    while not _children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once stopped
    assert _gone(children, 10)
