"""Two ``cbec serve`` processes on one PostgreSQL database, the same buyers sending through both.

Both take messages in; the clearing lease lets one clear at a time.  Checked: every message processed
exactly once, no list decided twice, no list number handed out twice, no buyer over the annual limit, and
the quota totals equal their movements (no lost update).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.integration.service.conftest import (
    TEST_SECRETS,
    database_url,
    free_port,
    start_serve,
    wait_cleared,
)

from cbec.engine.clear import iter_inputs
from cbec.service.cast import file_cast, use_signing_dir
from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect, leases
from cbec.store.schema import decision, inbox, quota, quota_movement

COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")
BUYER = re.compile(rb"<(?:\w+:)?buyerIdNumber>([^<]+)<")
pytestmark = pytest.mark.slow


def test_two_services_share_one_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    url = database_url("postgresql", tmp_path)
    engine = connect(url)
    cast = file_cast(engine, tmp_path / "keys")
    use_signing_dir(cast)
    write_corpus(
        tmp_path / "traffic",
        GeneratorConfig(
            parcels=600, seed=21, docs_per_message=(1, 12), faults={**DEFAULT_FAULTS, "over_quota": 0.05}
        ),
        workers=1,
    )
    messages = [data for _n, data in iter_inputs(tmp_path / "traffic")]
    ports = [free_port(), free_port()]
    env = {**os.environ, **TEST_SECRETS}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for k, p in enumerate(ports):
            procs.append(start_serve(url, p, tmp_path / f"serve{k}.log", env))
        buyers_by_server: list[set[bytes]] = [set(), set()]

        def send(k: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{ports[k]}", timeout=60) as http:
                for i in range(k, len(messages), 2):
                    data = messages[i]
                    key = cast.keys[COP.search(data).group(1).decode()]  # type: ignore[union-attr]
                    r = http.post(
                        "/v1/messages",
                        content=data,
                        headers={"X-API-Key": key, "Content-Type": "application/xml"},
                    )
                    assert r.status_code == 202, r.text
                    if b"CEB621Message" in data[:200]:
                        buyers_by_server[k].update(BUYER.findall(data))

        threads = [threading.Thread(target=send, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert buyers_by_server[0] & buyers_by_server[1]  # the same buyers went through both processes
        wait_cleared(engine, 180)
        with engine.connect() as conn:
            holder = leases.holder_of(conn, "clearing")
        assert holder is not None
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == len(messages)
        statuses = Counter(s for (s,) in conn.execute(select(inbox.c.status)))
        assert statuses.get("accepted", 0) == 0, statuses
        decided = Counter((k, s) for k, s in conn.execute(select(decision.c.list_key, decision.c.status)))
        assert max(decided.values()) == 1
        invt = Counter(
            n for (n,) in conn.execute(select(decision.c.invt_no).where(decision.c.invt_no.is_not(None)))
        )
        lists_numbered = Counter(
            k
            for k, n in conn.execute(select(decision.c.list_key, decision.c.invt_no).distinct())
            if n is not None
        )
        assert all(v == 1 for v in lists_numbered.values())
        assert len(invt) == len(lists_numbered)  # one number per list, none shared
        totals = dict(conn.execute(select(quota.c.buyer_key, quota.c.used_fen)).all())
        moved = dict(
            conn.execute(
                select(quota_movement.c.buyer_key, func.sum(quota_movement.c.amount_fen)).group_by(
                    quota_movement.c.buyer_key
                )
            ).all()
        )
        assert totals == {k: int(v) for k, v in moved.items()}
        assert max(totals.values()) <= 2_600_000  # CNY 26,000 a year, in fen
        refused_over_quota = conn.execute(
            select(func.count()).select_from(decision).where(decision.c.code == "-621018")
        ).scalar_one()
    assert refused_over_quota > 0  # the heavy buyers did hit the limit
    engine.dispose()
