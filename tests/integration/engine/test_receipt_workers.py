"""Receipts written by worker processes are the receipts the clearing process writes itself.

With workers, ``clear_stream`` ships each batch's receipt frames to a spawned process and takes the XML back
before the batch commits; without, it renders them on a thread.  The two runs below clear the same corpus
(with the default planted faults, so refusals, duplicates, tax bills and format receipts all occur) into two
fresh stores, and must queue the same receipts in the same order, byte for byte but for each message's
random root guid.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import select

from cbec.engine.clear import Clearer, iter_inputs, iter_message_files
from cbec.engine.pipeline import spawn_pool
from cbec.engine.receipt_render import ReceiptWork, render, root_guid
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect, packed_xml
from cbec.store.schema import receipt

NOW = datetime(2026, 11, 12)
ROOT_GUID = re.compile(rb'guid="[0-9A-Fa-f-]{36}"')
#: a CEB900's own guid and time are random and the wall clock's (it is written in the clearing process)
FORMAT_RETURN = (
    (re.compile(rb"<ceb:MessageReturn><ceb:guid>[0-9A-Fa-f-]{36}</ceb:guid>"), b"<ceb:MessageReturn>"),
    (re.compile(rb"<ceb:returnTime>\d+</ceb:returnTime>"), b"<ceb:returnTime/>"),
)


def _queued(
    corpus: Path, root: Path, workers: int, *, as_files: bool = False
) -> list[tuple[str, str, str, int, bytes]]:
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    clearer = Clearer(
        engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=root / "outbox", now=NOW
    )
    # as bytes read here, or as files (or zip members) the decoding workers read themselves
    named = iter_message_files(corpus) if as_files else iter_inputs(corpus)
    clearer.clear_stream(named, batch_messages=60, workers=workers)
    with engine.connect() as conn:
        rows = conn.execute(select(receipt).order_by(receipt.c.id)).all()
    engine.dispose()
    # every receipt was written to its file (by the workers, when there are some) and recorded delivered
    files = sorted((root / "outbox").rglob("*.xml"))
    assert len(files) == len(rows)
    out = []
    for r in rows:
        assert r.delivered_at is not None
        assert (root / "outbox" / r.recipient / f"{r.message_type}-{r.doc_guid}.xml").read_bytes() == r.xml
        assert r.doc_guid == root_guid(r.xml)
        # the root guid (the first: a CEB900 echoes its message's own after it) is random
        xml = ROOT_GUID.sub(b'guid=""', r.xml, count=1)
        if r.message_type == "CEB900Message":
            for pattern, blank in FORMAT_RETURN:
                xml = pattern.sub(blank, xml, count=1)
        out.append((r.message_type, r.recipient, r.business_key, r.status, xml))
    return out


def test_worker_rendered_receipts_equal_in_process_ones(tmp_path: Path) -> None:
    corpus = tmp_path / "in"
    write_corpus(corpus, GeneratorConfig(parcels=400, seed=11, faults=dict(DEFAULT_FAULTS)))
    # and a message cut short in transit, refused with a format receipt (CEB900) mid-stream
    first = sorted((corpus / "CEB311Message").glob("*.xml"))[0].read_bytes()
    (corpus / "CEB311Message" / "00000009.xml").write_bytes(first[: len(first) // 2])
    (tmp_path / "threads").mkdir()
    (tmp_path / "workers").mkdir()
    in_process = _queued(corpus, tmp_path / "threads", workers=0)
    by_workers = _queued(corpus, tmp_path / "workers", workers=2)
    types = {t for t, *_ in in_process}
    assert {"CEB312Message", "CEB412Message", "CEB512Message", "CEB622Message", "CEB816Message"} <= types
    assert "CEB900Message" in types  # the refused messages' format receipts, written in the clearing process
    assert by_workers == in_process
    # the workers read the files themselves, and send back the bytes of the refused ones only (which the
    # CEB900 echoes): the same receipts, from a directory and from a zip archive
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(corpus.rglob("*.xml")):
            zf.write(path, path.relative_to(corpus).as_posix())
    for source, name in ((corpus, "files"), (archive, "zip")):
        (tmp_path / name).mkdir()
        assert _queued(source, tmp_path / name, workers=2, as_files=True) == in_process, name


def test_receipt_work_survives_the_trip_to_a_worker() -> None:
    """The XML is written from the frame's types (decimals, times): the shipped copy writes the same."""
    rows = pl.DataFrame(
        {
            "sender": ["A", "B", "A"],
            "guid": ["11111111-1111-1111-1111-111111111111"] * 3,
            "ebpCode": ["E1", "E2", "E1"],
            "ebcCode": ["C1", "C2", "C1"],
            "orderNo": ["o1", "o2", "o3 & <x>"],
            "returnStatus": ["2", "120", "-301010"],
            "returnTime": [NOW, NOW, NOW],
            "returnInfo": ["ok", "ok", "重复申报 / duplicate"],
        }
    )
    work = ReceiptWork(flat=[("CEB312Message", rows)])
    with spawn_pool(1) as pool:
        shipped = pool.submit(render, work).result()
    here = render(work)
    assert [(r.message_type, r.recipient) for r in shipped] == [
        ("CEB312Message", "A"),
        ("CEB312Message", "B"),
    ]
    # the XML comes back in the outbox's stored form (packed once, where it is written)
    assert all(packed_xml.is_packed(r.xml) for r in [*shipped, *here])
    assert [ROOT_GUID.sub(b"", packed_xml.unpack(r.xml)) for r in shipped] == [
        ROOT_GUID.sub(b"", packed_xml.unpack(r.xml)) for r in here
    ]
