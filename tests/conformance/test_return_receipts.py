"""The export-return receipts cbec writes (CEB214 return application, CEB216 return tally) validate against
the official export XSD whatever the engine puts in them: every status they may carry, optional fields absent,
reasons in 中文 and English at the 1,000-character limit, 100 documents to a message."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.messages.decode import decode
from cbec.messages.encode_columns import encode_receipts
from cbec.messages.xsd import validate_bytes

AT = datetime(2026, 6, 15, 23, 0, 0, 123000)
# a reason the engine could write: never blank within the 1,000 characters kept (a blank required returnInfo
# is refused by the encoder, rightly: hypothesis found " " once)
REASON_CHARACTERS = st.sampled_from("退货理货放行跨关区abcXYZ 0123-/：；")
TEXT = st.text(alphabet=REASON_CHARACTERS, min_size=1, max_size=1200).filter(lambda s: bool(s[:1000].strip()))


@pytest.fixture(autouse=True)
def _needs_xsds(xsd_dir: Path) -> None:
    """Skips (with the reason) when the official XSDs are absent."""


def _r214(n: int, status: str, info: str, optional: bool) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "guid": [f"A0B0C0D0-0000-4000-8000-{i:012d}" for i in range(n)],
            "ebpCode": ["3301960001" if optional else None] * n,
            "ebcCode": ["3301960101" if optional else None] * n,
            "agentCode": ["4403960402"] * n,
            "coElNo": [f"RRT01{i:08d}" for i in range(n)],
            "preNo": ["B20260615000000001" if optional else None] * n,
            "invtNo": [f"51412026E{i:09d}" for i in range(n)],
            "returnStatus": [status] * n,
            "returnTime": [AT] * n,
            "returnInfo": [info[:1000]] * n,
        },
        schema_overrides={"ebpCode": pl.String, "ebcCode": pl.String, "preNo": pl.String},
    )


def _r216(n: int, status: str, info: str, optional: bool) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "guid": [f"A0B0C0D0-0000-4000-8000-{i:012d}" for i in range(n)],
            "operatorCode": ["3302960701"] * n,
            "logisticsCode": ["3301960801"] * n,
            "logisticsNo": [f"RT01{i:08d}" for i in range(n)],
            "coElNo": [f"TRT01{i:08d}" for i in range(n)],
            "preNo": ["B20260615000000002" if optional else None] * n,
            "returnStatus": [status] * n,
            "returnTime": [AT] * n,
            "returnInfo": [info[:1000]] * n,
        },
        schema_overrides={"preNo": pl.String},
    )


@pytest.mark.parametrize("status", ["100", "120", "800"])
@pytest.mark.parametrize("optional", [True, False])
def test_ceb214_is_xsd_valid(status: str, optional: bool) -> None:
    info = (
        "-213907 原清单第1项退货数量4超过可退数量3 / returned quantity 4 exceeds what may still be returned 3"
    )
    for xml in encode_receipts("CEB214Message", _r214(100, status, info, optional)):
        assert validate_bytes(xml, "export") == []
        assert len(decode(xml).documents) == 100


@pytest.mark.parametrize("status", ["2", "100", "399"])
@pytest.mark.parametrize("optional", [True, False])
def test_ceb216_is_xsd_valid(status: str, optional: bool) -> None:
    info = "-215902 跨关区退货只能退至已备案的监管场所 / a cross-district return must go into a filed site"
    for xml in encode_receipts("CEB216Message", _r216(3, status, info, optional)):
        assert validate_bytes(xml, "export") == []


@settings(max_examples=25, deadline=None)
@given(info=TEXT)
def test_any_reason_up_to_the_limit_stays_valid(info: str) -> None:
    for frame, mtype in (
        (_r214(1, "100", info, True), "CEB214Message"),
        (_r216(1, "100", info, False), "CEB216Message"),
    ):
        [xml] = encode_receipts(mtype, frame)
        assert validate_bytes(xml, "export") == []
        got = decode(xml).documents[0].head["returnInfo"]
        assert str(got or "").strip() == info[:1000].strip()
