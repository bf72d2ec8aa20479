"""No buyer or payer ID number, phone number or address of a generated day is left in clear anywhere cbec
writes: the SQLite database file and its WAL, the receipt files of the outbox, the key files beside the
database, and a log captured at DEBUG with SQLAlchemy echoing every statement and its parameters (and a
careless logger writing out every message it saw).  Clearing from the encrypted inbox again gives the same
decisions.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from _aftercare_testlib import (
    CLEARED_AT,
    World,
    cancel_message,
    clear_messages,
    return_message,
    risky_params,
)
from sqlalchemy import select

from cbec.engine.clear import iter_inputs
from cbec.privacy.logs import install_log_redaction
from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect, rebuild
from cbec.store.schema import decision, document, inbox

AT = datetime(2026, 11, 20, 10, 0)
SECRET_FIELDS = (
    "buyerIdNumber",
    "payerIdNumber",
    "buyerTelephone",
    "consigneeTelephone",
    "telephone",
    "consigneeAddress",
)
_VALUE = re.compile(
    rb"<(?:ceb:)?(" + b"|".join(f.encode() for f in SECRET_FIELDS) + rb")>([^<]+)</", re.ASCII
)


def _secrets(blob: bytes) -> set[bytes]:
    return {m.group(2).strip() for m in _VALUE.finditer(blob)}


def _broken(blob: bytes) -> bytes:
    """A copy of an order message under a new guid, without its required ``orderNo``: refused with a CEB900
    that quotes the message back."""
    blob = re.sub(rb'guid="[0-9A-Fa-f-]{36}"', f'guid="{str(uuid.uuid4()).upper()}"'.encode(), blob, count=1)
    return re.sub(rb"<ceb:orderNo>[^<]*</ceb:orderNo>", b"", blob, count=1)


def _decisions(world: World) -> list[tuple[Any, ...]]:
    with world.engine.connect() as conn:
        cols = (decision.c.list_key, decision.c.invt_no, decision.c.status, decision.c.code, decision.c.rule)
        return sorted(tuple(r) for r in conn.execute(select(*cols)))


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, set[bytes], Path, Path]]:
    root = tmp_path_factory.mktemp("privacy")
    corpus = root / "in"
    faults = {k: v * 3 for k, v in DEFAULT_FAULTS.items()}  # bad IDs, other payers, … several times each
    write_corpus(corpus, GeneratorConfig(parcels=240, seed=17, faults=faults, docs_per_message=(1, 40)))
    work = root / "work"
    work.mkdir()
    log_file = work / "cbec.log"

    install_log_redaction()
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root_logger, sql_logger = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = (root_logger.level, sql_logger.level)
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    sql_logger.setLevel(logging.INFO)  # every statement and its parameters
    careless = logging.getLogger("cbec.test.careless")
    try:
        messages = list(iter_inputs(corpus))
        order = next(b for name, b in messages if name.startswith("CEB311"))
        messages.append(("CEB311Message/zz-broken.xml", _broken(order)))
        secrets: set[bytes] = set()
        for name, blob in messages:
            secrets |= _secrets(blob)
            careless.debug("received %s: %s", name, blob.decode("utf-8", "replace"))
        careless.error("decoding failed", exc_info=ValueError(messages[0][1].decode()[:2000]))

        world = World(connect(f"sqlite:///{work / 'cbec.db'}"), risky_params(root / "params"), work)
        summary = world.clearer(CLEARED_AT).clear_stream(iter(messages), batch_messages=40, workers=1)
        assert summary.refused_messages == 1 and summary.released > 100

        # the same decisions again, cleared from the encrypted inbox
        first = _decisions(world)
        rebuild(world.engine)
        world.clearer(CLEARED_AT).replay()
        assert _decisions(world) == first

        # aftercare: a cancellation and a return (their heads repeat the buyer's ID number, name, phone)
        released = world.lists_at(800)
        for make in (cancel_message, return_message):
            _guid, xml = make(world, released.pop(), AT)
            secrets |= _secrets(xml)
            clear_messages(world, AT, xml)
        yield world, secrets, work, log_file
    finally:
        root_logger.removeHandler(handler)
        handler.close()
        root_logger.setLevel(levels[0])
        sql_logger.setLevel(levels[1])


def test_no_id_number_phone_or_address_in_clear_anywhere(day: tuple[World, set[bytes], Path, Path]) -> None:
    _world, secrets, work, log_file = day
    ids = {s for s in secrets if re.fullmatch(rb"\d{17}[\dX]", s)}
    assert len(ids) > 100 and len(secrets) > 3 * len(ids) // 2  # the traffic really has them
    wal = work / "cbec.db-wal"
    assert wal.stat().st_size > 0  # read while the engine is open: the WAL has not been checkpointed away
    files = [p for p in work.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"cbec.db", "cbec.db-wal", "cbec.log", "cbec.db.data-key"} <= names
    assert any(p.suffix == ".xml" for p in files)  # the outbox
    assert log_file.stat().st_size > 100_000  # SQL echo and the careless logger did write
    leaks = []
    for path in files:
        data = path.read_bytes()
        leaks += [(path.name, s.decode()) for s in secrets if s in data]
    assert not leaks, leaks[:10]


def test_what_is_stored_instead(day: tuple[World, set[bytes], Path, Path]) -> None:
    world, _secrets_seen, work, log_file = day
    with world.engine.connect() as conn:
        codecs = set(conn.scalars(select(inbox.c.raw_codec)))
        payloads = [p for p in conn.scalars(select(document.c.payload)) if p]
    assert codecs == {"zstd-gcm"}
    assert len(payloads) == 2 and all('"buyerIdNumber": "' in p and "***********" in p for p in payloads)
    ceb900 = [p.read_text() for p in (work / "outbox").rglob("*.xml") if "CEB900" in p.read_text()]
    assert ceb900 and all("oriBizMessage" in x for x in ceb900)  # one per run: the replay sent another
    for xml in ceb900:  # the refused message is quoted back with its personal fields masked
        masked = re.findall(r"buyerIdNumber&gt;([^&]+)&lt;", xml)
        assert masked and all(re.fullmatch(r"\d{3}\*{11}[\dX]{4}", m) for m in masked)
    log = log_file.read_text(encoding="utf-8")
    assert "received CEB311Message" in log
    assert re.search(r"\d{3}\*{11}[\dX]{4}", log)  # the careless logger's ID numbers, masked
