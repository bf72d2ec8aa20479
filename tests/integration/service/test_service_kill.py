"""kill -9 of the service under load: nothing acknowledged is lost or processed twice, receipts resume."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select
from tests.integration.service.conftest import free_port, start_serve, wait_cleared

from cbec.engine.clear import iter_inputs
from cbec.service.cast import file_cast, use_signing_dir
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store.schema import decision, inbox, receipt

COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")
pytestmark = pytest.mark.slow


def test_kill_9_under_load_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cbec.db'}"
    engine = connect(url)
    cast = file_cast(engine, tmp_path / "keys")
    use_signing_dir(cast)
    write_corpus(
        tmp_path / "traffic", GeneratorConfig(parcels=300, seed=3, docs_per_message=(1, 8)), workers=1
    )
    messages = [data for _n, data in iter_inputs(tmp_path / "traffic")]
    keys = [cast.keys[COP.search(m).group(1).decode()] for m in messages]  # type: ignore[union-attr]
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start_serve(url, port, log)

    acked: set[int] = set()
    sent = 0

    def send(i: int) -> bool:
        try:
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/messages",
                content=messages[i],
                headers={"X-API-Key": keys[i], "Content-Type": "application/xml"},
                timeout=10,
            )
        except httpx.HTTPError:
            return False
        assert r.status_code == 202, r.text
        acked.add(i)
        return True

    # load from a thread; kill -9 once about 40 % is acknowledged, while requests are in flight
    def load() -> None:
        nonlocal sent
        for i in range(len(messages)):
            sent = i + 1
            if not send(i):
                return

    loader = threading.Thread(target=load)
    loader.start()
    while len(acked) < 0.4 * len(messages) and loader.is_alive():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    loader.join()
    assert 0 < len(acked) < len(messages)

    # restart; the client sends again everything it has no acknowledgement for (and some it has)
    proc = start_serve(url, port, log)
    try:
        for i in range(len(messages)):
            if i not in acked or i % 10 == 0:
                assert send(i)
        wait_cleared(engine, 120)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
        assert stored == len(messages)  # every message once, none lost
        statuses = Counter(s for (s,) in conn.execute(select(inbox.c.status)))
        assert statuses.get("accepted", 0) == 0
        per_list = Counter((k, s) for k, s in conn.execute(select(decision.c.list_key, decision.c.status)))
        assert max(per_list.values()) == 1  # no list decided twice into the same status
        answered: Counter[tuple[str, str]] = Counter()
        for (xml,) in conn.execute(select(receipt.c.xml)):
            root = etree.fromstring(xml)
            for doc in root:
                guid = doc.find("{*}guid")
                status = doc.find("{*}returnStatus")
                if guid is not None and status is not None:
                    answered[(guid.text or "", status.text or "")] += 1
    assert answered and max(answered.values()) == 1  # no receipt entry twice
    documents = {g.decode() for m in messages for g in re.findall(rb"<(?:\w+:)?guid>([^<]+)<", m)}
    assert documents <= {g for g, _s in answered}  # every document answered, after the restart too
