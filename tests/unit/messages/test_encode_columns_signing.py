"""The columnar writer: lists signed as text verify like lists signed through a tree; values are trimmed,
escaped or left out exactly as before; a message can be given its guid."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from cbec.messages.decode import decode
from cbec.messages.encode_columns import encode_documents, entity_xml
from cbec.messages.safe_xml import parse_only
from cbec.messages.signature import SigningIdentity, make_test_identity, verify
from cbec.messages.spec import message_spec

GUID = "F111B3E5-D798-41E5-8CE0-0804BE059B1A"
TRANSFER = {"copCode": "3301960401", "copName": "代理 & <co>", "dxpMode": "DXP", "dxpId": "DXPENT3301960401"}


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return make_test_identity(key_name="card <1> & 2")


def _lists(address: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = 2
    heads = pl.DataFrame(
        {
            "_msg": [0] * n,
            "_doc": list(range(n)),
            "guid": ["029553FE-EB8B-46D2-8615-055CA545E21E", "029553FE-EB8B-46D2-8615-055CA545E21F"],
            "appType": ["1"] * n,
            "appTime": [datetime(2026, 11, 11, 1, 2, 3)] * n,
            "appStatus": ["2"] * n,
            "orderNo": ["A1", "A2"],
            "ebpCode": ["3301960001"] * n,
            "ebpName": ['平台 & <co> "x"'] * n,
            "ebcCode": ["3301960101"] * n,
            "ebcName": ["  e  "] * n,
            "logisticsNo": ["L1", "L2"],
            "logisticsCode": ["3301960301"] * n,
            "logisticsName": ["l"] * n,
            "assureCode": ["3301960101"] * n,
            "ieFlag": ["I"] * n,
            "declTime": [date(2026, 11, 11)] * n,
            "customsCode": ["2900"] * n,
            "portCode": ["2900"] * n,
            "buyerIdType": ["1"] * n,
            "buyerIdNumber": ["110105199001011234"] * n,
            "buyerName": ["王"] * n,
            "buyerTelephone": ["13000000000"] * n,
            "consigneeAddress": [address] * n,
            "agentCode": ["3301960401"] * n,
            "agentName": ["a"] * n,
            "tradeMode": ["9610"] * n,
            "trafMode": ["5"] * n,
            "note": ["", "   "],
            "country": ["116"] * n,
            "freight": [Decimal("0.00")] * n,
            "insuredFee": [Decimal("0")] * n,
            "currency": ["142"] * n,
            "packNo": [1] * n,
            "grossWeight": [Decimal("1.20")] * n,
            "netWeight": [Decimal("1.0")] * n,
        }
    )
    lines = pl.DataFrame(
        {
            "_msg": [0] * n,
            "_doc": list(range(n)),
            "gnum": [1] * n,
            "gcode": ["3304990099"] * n,
            "gname": ["g > h"] * n,
            "gmodel": ["m"] * n,
            "country": ["116"] * n,
            "currency": ["142"] * n,
            "qty": [Decimal("1")] * n,
            "unit": ["007"] * n,
            "qty1": [Decimal("1")] * n,
            "unit1": ["007"] * n,
            "price": [Decimal("12.50")] * n,
            "totalPrice": [Decimal("12.5")] * n,
        }
    )
    return heads, lines


@pytest.mark.parametrize("address", ["上海 a>b & c<d", "line one\r\nline two\tend"])
def test_signed_lists_verify_and_validate(address: str, identity: SigningIdentity, xsd_dir: Path) -> None:
    from cbec.messages.xsd import validate_bytes

    heads, lines = _lists(address)
    [(msg, data)] = encode_documents(
        "CEB621Message", heads, lines, transfers={0: TRANSFER}, signer=identity, guids={0: GUID}
    )
    assert msg == 0
    result = verify(parse_only(data))
    assert result.valid, result.reason
    assert validate_bytes(data, "import") == []
    decoded = decode(data)
    assert decoded.ok and decoded.guid == GUID
    assert decoded.documents[0].head["consigneeAddress"].replace("\r\n", "\n") == address.replace(
        "\r\n", "\n"
    )
    assert decoded.documents[0].head["ebpName"] == '平台 & <co> "x"'
    assert decoded.transfer is not None and decoded.transfer["copName"] == "代理 & <co>"


def test_a_changed_signed_list_does_not_verify(identity: SigningIdentity) -> None:
    heads, lines = _lists("上海")
    [(_m, data)] = encode_documents("CEB621Message", heads, lines, transfers={0: TRANSFER}, signer=identity)
    tampered = data.replace(b"<ceb:orderNo>A1<", b"<ceb:orderNo>A9<")
    assert tampered != data
    assert not verify(parse_only(tampered)).valid


def test_values_are_trimmed_escaped_and_empty_ones_left_out() -> None:
    spec = message_spec("CEB621Message")
    heads, _lines = _lists("a")
    xml = entity_xml(heads.drop("_msg", "_doc"), spec.head)["_xml"].to_list()
    assert '<ceb:ebpName>平台 &amp; &lt;co&gt; "x"</ceb:ebpName>' in xml[0]
    assert "<ceb:ebcName>e</ceb:ebcName>" in xml[0]
    assert "<ceb:note>" not in xml[0] and "<ceb:note>" not in xml[1]  # empty and blank: absent
    assert "<ceb:freight>0</ceb:freight>" in xml[0] and "<ceb:grossWeight>1.2</ceb:grossWeight>" in xml[0]
    assert "<ceb:preNo>" not in xml[0]  # a column the frame does not have
