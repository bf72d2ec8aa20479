"""The summary-declaration messages (CEB701 application, CEB702 and CEB792 receipts) built from a summarised
month validate against the official export XSD and read back to the same grouping."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "rules"))
from _summary_testlib import head, heads_frame, line, lines_frame

from cbec.messages.decode import decode
from cbec.messages.signature import make_test_identity, verify_message
from cbec.messages.summary_docs import Declarant, ceb701, ceb702, ceb792, sum_no
from cbec.messages.xsd import validate_bytes
from cbec.rules.summary import SummaryOptions, summarise_period

P = "2026-10"
DECLARANT = Declarant(
    customs_code="5141",
    agent_code="91440300MA5FAKE01X",
    agent_name="深圳某某报关有限公司",
    ebc_name="深圳跨境一号电子商务有限公司",
    decl_agent_code="4403980001",
    decl_agent_name="深圳某某报关有限公司",
    dxp_id="DXPENT0000012345",
)
IDENTITY = make_test_identity(not_before=datetime(2026, 1, 1, tzinfo=UTC))
AT = datetime(2026, 11, 3, 9, 30)


@pytest.fixture(autouse=True)
def _needs_xsds(xsd_dir: Path) -> None:
    """Skips (with the reason) when the official XSDs are absent."""


def _month() -> tuple[pl.DataFrame, pl.DataFrame]:
    heads = [
        head(f"51412026E{k:09d}", country=("502", "303")[k % 2], ownerCode=f"O{k % 3}") for k in range(7)
    ]
    lines = [
        line(f"51412026E{k:09d}", g, gcode=("6109100021", "6404199000")[g - 1], itemName=f"货{k % 2}")
        for k in range(7)
        for g in (1, 2)
    ]
    return heads_frame(heads), lines_frame(lines)


@pytest.mark.parametrize("item_name_flag", [False, True])
def test_ceb701_naming_lists_validates_signed_and_splits(item_name_flag: bool) -> None:
    heads, _ = _month()
    numbers = heads["invtNo"].to_list()
    messages = ceb701(
        period=P,
        ebc_code="E1",
        supplement=0,
        invt_nos=numbers,
        declarant=DECLARANT,
        summary_flag="2",
        item_name_flag=item_name_flag,
        app_time=AT,
        signer=IDENTITY,
        lists_per_document=3,
    )
    assert len(messages) == 1
    assert validate_bytes(messages[0], "export") == []
    assert verify_message(messages[0], IDENTITY.certificate, at=AT).ok
    decoded = decode(messages[0])
    assert decoded.errors == []
    heads_out = [d.head for d in decoded.documents]
    assert [(h["msgSeqNo"], h["msgCount"]) for h in heads_out] == [(1, 3), (2, 3), (3, 3)]
    assert {h["itemNameFlag"] for h in heads_out} == {"1" if item_name_flag else "0"}
    assert [ln["invtNo"] for d in decoded.documents for ln in d.lines] == sorted(numbers)


def test_ceb701_window_for_a_first_application_only() -> None:
    (message,) = ceb701(
        period=P,
        ebc_code="E1",
        supplement=0,
        invt_nos=[],
        declarant=DECLARANT,
        summary_flag="1",
        item_name_flag=False,
        app_time=AT,
        window=True,
        app_status="1",
    )
    assert validate_bytes(message, "export") == []
    h = decode(message).documents[0].head
    assert (str(h["startTime"]), str(h["endTime"])) == ("2026-10-01 00:00:00", "2026-10-31 23:59:59")
    with pytest.raises(ValueError, match="supplementary"):
        ceb701(
            period=P,
            ebc_code="E1",
            supplement=1,
            invt_nos=[],
            declarant=DECLARANT,
            summary_flag="1",
            item_name_flag=False,
            app_time=AT,
            window=True,
            app_status="1",
        )


def test_a_declared_ceb701_must_be_signed() -> None:
    with pytest.raises(ValueError, match="signed"):
        ceb701(
            period=P,
            ebc_code="E1",
            supplement=0,
            invt_nos=["I1"],
            declarant=DECLARANT,
            summary_flag="1",
            item_name_flag=False,
            app_time=AT,
        )


def test_ceb702_validates() -> None:
    receipt = ceb702(
        period=P,
        ebc_code="E1",
        supplement=1,
        declarant=DECLARANT,
        pre_no="B20261103000000001",
        sum_number=sum_no("5141", 2026, 42),
        return_time=AT,
        msg_count=2,
    )
    assert validate_bytes(receipt, "export") == []
    docs = decode(receipt).documents
    assert [(d.head["sumNo"], d.head["msgSeqNo"]) for d in docs] == [
        ("51412026S000000042", 1),
        ("51412026S000000042", 2),
    ]
    assert docs[0].head["copNo"] == "SUM20261001E1"


@pytest.mark.parametrize("summary_flag", ["1", "2"])
def test_ceb792_validates_and_maps_every_list_line(summary_flag: str) -> None:
    heads, lines = _month()
    s = summarise_period(heads, lines, P, options=SummaryOptions(summary_flag=summary_flag))  # type: ignore[arg-type]
    messages = ceb792(
        declarations=s.declarations,
        mapping=s.mapping,
        declarant=DECLARANT,
        sum_number=sum_no("5141", 2026, 7),
        first_serial=100,
        op_date=AT,
    )
    assert len(messages) == 1
    assert validate_bytes(messages[0], "export") == []
    decoded = decode(messages[0])
    assert decoded.errors == [] and decoded.warnings == []
    assert len(decoded.documents) == s.declarations.height
    seq = [d.head["declSeqNo"] for d in decoded.documents]
    assert seq == [f"51412026D{100 + k:09d}" for k in range(len(seq))]
    back = pl.DataFrame(
        [
            {"declNo": k + 1, "invtNo": ln["invtNo"], "gnum": ln["gnum"], "gseqno": ln["gseqno"]}
            for k, d in enumerate(decoded.documents)
            for ln in d.lines
        ],
        schema={"declNo": pl.Int32, "invtNo": pl.String, "gnum": pl.Int32, "gseqno": pl.Int32},
    )
    assert back.equals(s.mapping.select("declNo", "invtNo", "gnum", "gseqno"))


def test_ceb792_splits_into_messages_of_100_declarations() -> None:
    heads = heads_frame([head(f"I{k:03d}", portCode=f"{5000 + k}") for k in range(101)])
    lines = lines_frame([line(f"I{k:03d}") for k in range(101)])
    s = summarise_period(heads, lines, P)
    messages = ceb792(
        declarations=s.declarations,
        mapping=s.mapping,
        declarant=DECLARANT,
        sum_number=sum_no("5141", 2026, 1),
        first_serial=1,
        op_date=AT,
    )
    assert len(messages) == 2
    assert all(validate_bytes(m, "export") == [] for m in messages)
    assert [len(decode(m).documents) for m in messages] == [100, 1]
