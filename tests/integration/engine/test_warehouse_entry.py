"""CEB711 warehouse-entry details through the clearing engine, answered with XSD-valid CEB712 receipts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _aftercare_testlib import hs_frame, identity

from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.columns import decode_batch
from cbec.messages.decode import decode
from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.messages.spec import message_spec
from cbec.messages.xsd import validate_bytes, xsd_available
from cbec.params import default_parameters
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store import warehouse_entries as repo
from cbec.store.schema import receipt

AT = datetime(2026, 11, 12, 3, 0, 0)
OPERATOR = ("2900960601", "杭州机场跨境监管中心")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("entry") / "in"
    write_corpus(out, GeneratorConfig(parcels=30, seed=4))
    return out


def _waybills(corpus: Path) -> pl.DataFrame:
    batch = decode_batch([b for _, b in iter_inputs(corpus)])
    heads = batch.table("CEB621Message", "InventoryHead").filter(pl.col("tradeMode") == "9610")
    return heads.select("logisticsCode", "logisticsNo", "customsCode")


def _entry(
    code: str, numbers: list[str], customs: str, gnums: list[int] | None = None, **over: Any
) -> tuple[str, bytes]:
    head = {
        "guid": new_guid(), "appType": "1", "appTime": AT, "appStatus": "2", "customsCode": customs,
        "copNo": "RK001", "operatorCode": OPERATOR[0], "operatorName": OPERATOR[1], "ieFlag": "I",
        "trafMode": "5", "trafNo": "CA1234", "voyageNo": "CA1234", "billNo": "784-12345678",
        "logisticsCode": code, "logisticsName": "示例国际快递有限公司",
    }  # fmt: skip
    head.update(over)
    numbered = zip(gnums or range(1, len(numbers) + 1), numbers, strict=True)
    lines = [{"gnum": g, "logisticsNo": n} for g, n in numbered]
    transfer = {"copCode": OPERATOR[0], "copName": OPERATOR[1], "dxpMode": "DXP", "dxpId": "DXPENT0000000601"}
    return head["guid"], encode(
        "CEB711Message", [OutDocument(head, lines)], transfer=transfer, signer=identity()
    )


def _answers(engine: Any, guid: str) -> list[dict[str, str]]:
    with engine.connect() as conn:
        xmls = [
            bytes(x)
            for x in conn.execute(receipt.select().where(receipt.c.message_type == "CEB712Message")).scalars(
                receipt.c.xml
            )
        ]  # type: ignore[arg-type]
    out = []
    for xml in xmls:
        for d in decode(xml).documents:
            if str(d.head.get("guid")) == guid:
                out.append({k: str(v) for k, v in d.head.items()})
    return sorted(out, key=lambda a: a["returnTime"])


def test_entry_details_are_checked_stored_and_answered(tmp_path: Path, corpus: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'c.db'}")
    clearer = Clearer(engine, params=default_parameters(), hs=hs_frame(), outbox=None, now=AT)
    clearer.clear_batch(list(iter_inputs(corpus)))
    wb = _waybills(corpus)
    code = wb["logisticsCode"][0]
    mine = wb.filter(pl.col("logisticsCode") == code)
    customs = mine["customsCode"][0]
    good_guid, good = _entry(code, mine["logisticsNo"].to_list()[:2], customs)
    bad_guid, bad = _entry(code, [mine["logisticsNo"][0], "NOSUCHWAYBILL"], customs)
    flag_guid, flagged = _entry(code, mine["logisticsNo"].to_list()[:1], customs, ieFlag="E")
    Clearer(engine, params=default_parameters(), hs=hs_frame(), outbox=None, now=AT).clear_batch(
        [("a.xml", good), ("b.xml", bad), ("c.xml", flagged), ("a2.xml", good)]
    )
    ok = _answers(engine, good_guid)
    assert [a["returnStatus"] for a in ok] == ["120", "399"]
    refused = _answers(engine, bad_guid)
    assert [a["returnStatus"] for a in refused] == ["100"]
    assert refused[0]["returnInfo"].startswith("-800001") and "NOSUCHWAYBILL" in refused[0]["returnInfo"]
    assert _answers(engine, flag_guid)[0]["returnInfo"].startswith("-800001")
    with engine.connect() as conn:
        scope = repo.EntryScope(operator_codes=frozenset({OPERATOR[0]}))
        stored = {e.guid: e for e in repo.list_entries(conn, scope)}
        good_lines = repo.entry_lines(conn, stored[good_guid].id)
        bad_lines = repo.entry_lines(conn, stored[bad_guid].id)
    assert stored[good_guid].status == 399 and stored[good_guid].line_count == 2
    assert all(line.found for line in good_lines) and stored[good_guid].lines_not_found == 0
    assert stored[bad_guid].status == 100 and stored[bad_guid].code == "-800001"
    # a refused entry keeps its lines, so the site sees which waybill was not declared
    assert [(line.logistics_no, line.found) for line in bad_lines] == [
        (mine["logisticsNo"][0], True),
        ("NOSUCHWAYBILL", False),
    ]
    assert stored[bad_guid].lines_not_found == 1
    # the CEB712 receipts are XSD-valid
    if xsd_available():
        with engine.connect() as conn:
            xmls = conn.execute(receipt.select().where(receipt.c.message_type == "CEB712Message")).fetchall()
        assert xmls
        for row in xmls:
            assert not validate_bytes(bytes(row.xml), message_spec("CEB712Message").family)


def test_a_line_number_given_twice_is_refused_not_a_failed_batch(tmp_path: Path, corpus: Path) -> None:
    """Two lines with the same gnum pass the XSD; they are refused with −800001 (and stored), and the other
    messages of the batch are decided as usual."""
    engine = connect(f"sqlite:///{tmp_path / 'c.db'}")
    clearer = Clearer(engine, params=default_parameters(), hs=hs_frame(), outbox=None, now=AT)
    clearer.clear_batch(list(iter_inputs(corpus)))
    wb = _waybills(corpus)
    code = wb["logisticsCode"][0]
    mine = wb.filter(pl.col("logisticsCode") == code)
    customs = mine["customsCode"][0]
    twice_guid, twice = _entry(code, mine["logisticsNo"].to_list()[:2], customs, gnums=[1, 1])
    good_guid, good = _entry(code, mine["logisticsNo"].to_list()[2:3], customs)
    Clearer(engine, params=default_parameters(), hs=hs_frame(), outbox=None, now=AT).clear_batch(
        [("t.xml", twice), ("g.xml", good)]
    )
    refused = _answers(engine, twice_guid)
    assert [a["returnStatus"] for a in refused] == ["100"]
    assert refused[0]["returnInfo"].startswith("-800001") and "gnum" in refused[0]["returnInfo"]
    assert [a["returnStatus"] for a in _answers(engine, good_guid)] == ["120", "399"]
    with engine.connect() as conn:
        row = repo.entry_by_guid(conn, twice_guid)
        assert row is not None and row.line_count == 2
        assert [line.gnum for line in repo.entry_lines(conn, row.id)] == [1, 2]  # stored by position
