"""The tolerant reader: the variants real senders produce are read, and each deviation is named as a warning.

Every variant is built by string-editing an official import sample, so the expected values are those of the
unedited sample: a variant must decode without errors, to the same documents, with the expected warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from cbec.messages.decode import DecodedMessage, decode
from cbec.messages.spec import CEB_NS, DS_NS

CEB_DECL = ' xmlns:ceb="http://www.chinaport.gov.cn/ceb"'
DS_DECL = ' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
ORDER_NO = "<ceb:orderNo>order20160321116421002</ceb:orderNo>"
APP_TYPE_TIME = "<ceb:appType>1</ceb:appType>\n\t\t\t<ceb:appTime>20160308112701</ceb:appTime>"


@pytest.fixture(scope="module")
def base(sample_text: Callable[[str], str]) -> str:
    """The CEB311 sample as text (6 orders of 2 lines, Chinese names, a ds:Signature), without its BOM."""
    text = sample_text("CEB311")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return text


@pytest.fixture(scope="module")
def baseline(base: str) -> DecodedMessage:
    decoded = decode(base.encode("utf-8"))
    assert decoded.errors == [] and decoded.warnings == []
    assert len(decoded.documents) == 6
    return decoded


@pytest.fixture(scope="module")
def transfer_block(base: str) -> str:
    m = re.search(r"\n\t<ceb:BaseTransfer>.*?</ceb:BaseTransfer>", base, re.S)
    assert m
    return m.group(0)


def _read(data: str | bytes) -> DecodedMessage:
    decoded = decode(data.encode("utf-8") if isinstance(data, str) else data)
    assert decoded.errors == [], [str(e) for e in decoded.errors]
    return decoded


def _codes(decoded: DecodedMessage) -> set[str]:
    return {w.code for w in decoded.warnings}


def _warning(decoded: DecodedMessage, code: str) -> list[str]:
    return [w.path for w in decoded.warnings if w.code == code]


def _same_documents(a: DecodedMessage, b: DecodedMessage) -> None:
    assert a.message_type == b.message_type
    assert [d.head for d in a.documents] == [d.head for d in b.documents]
    assert [d.lines for d in a.documents] == [d.lines for d in b.documents]


def _replace_once(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# --- namespaces ---------------------------------------------------------------------------------------------


def test_ceb_prefix_is_the_reference(base: str, baseline: DecodedMessage) -> None:
    assert base.count("<ceb:") > 100
    assert baseline.signature is not None and baseline.signature.namespace_ok


def test_default_namespace(base: str, baseline: DecodedMessage) -> None:
    text = base.replace("ceb:", "").replace("xmlns:ceb=", "xmlns=")
    assert "<CEB311Message" in text and f'xmlns="{CEB_NS}"' in text
    decoded = _read(text)
    assert decoded.warnings == []
    _same_documents(decoded, baseline)
    assert decoded.transfer == baseline.transfer


def test_no_namespace_at_all(base: str, baseline: DecodedMessage) -> None:
    text = base.replace("ceb:", "").replace(CEB_DECL, "")
    assert CEB_NS not in text
    decoded = _read(text)
    assert _codes(decoded) == {"tolerated.namespace"}
    assert _warning(decoded, "tolerated.namespace") == ["/CEB311Message"]
    _same_documents(decoded, baseline)
    assert decoded.transfer == baseline.transfer


def test_foreign_namespace_on_the_root(base: str, baseline: DecodedMessage) -> None:
    decoded = _read(base.replace(CEB_DECL, ' xmlns:ceb="http://www.chinaport.gov.cn/CEB"'))
    assert _codes(decoded) == {"tolerated.namespace"}
    _same_documents(decoded, baseline)


# --- XML declaration and encodings --------------------------------------------------------------------------


def test_no_xml_declaration(base: str, baseline: DecodedMessage) -> None:
    decoded = _read(base.split("?>", 1)[1].lstrip())
    assert decoded.warnings == []
    _same_documents(decoded, baseline)


def test_standalone_yes(base: str, baseline: DecodedMessage) -> None:
    decoded = _read(_replace_once(base, 'encoding="UTF-8"?>', 'encoding="UTF-8" standalone="yes"?>'))
    assert decoded.warnings == []
    _same_documents(decoded, baseline)


@pytest.mark.parametrize("name", ["utf-8", "utf8", "Utf-8"])
def test_lower_case_utf8(base: str, baseline: DecodedMessage, name: str) -> None:
    decoded = _read(_replace_once(base, 'encoding="UTF-8"', f'encoding="{name}"'))
    assert decoded.warnings == []
    assert decoded.encoding == "UTF-8"
    _same_documents(decoded, baseline)


@pytest.mark.parametrize(
    ("declared", "codec"), [("GBK", "gbk"), ("GB2312", "gb2312"), ("gbk", "gbk"), ("GB18030", "gb18030")]
)
def test_chinese_encodings(base: str, baseline: DecodedMessage, declared: str, codec: str) -> None:
    data = _replace_once(base, 'encoding="UTF-8"', f'encoding="{declared}"').encode(codec)
    assert "东方物通".encode() not in data, "the bytes really are in the Chinese encoding"
    decoded = _read(data)
    assert decoded.warnings == []
    assert decoded.encoding == declared.upper()
    head = decoded.documents[0].head
    assert head["ebpName"] == "东方物通科技(北京)有限公司"
    assert head["consignee"] == "焦洪宇"
    assert head["consigneeAddress"] == "北京市海淀区"
    assert decoded.transfer is not None and decoded.transfer["copName"] == "物流企业"
    _same_documents(decoded, baseline)


def test_gbk_bytes_declared_utf8(base: str, baseline: DecodedMessage) -> None:
    data = base.encode("gbk")  # still says encoding="UTF-8"
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    decoded = _read(data)
    assert _codes(decoded) == {"tolerated.encoding"}
    assert _warning(decoded, "tolerated.encoding") == ["/"]
    assert decoded.documents[0].head["ebpName"] == "东方物通科技(北京)有限公司"
    _same_documents(decoded, baseline)


def test_gbk_bytes_without_declaration(base: str, baseline: DecodedMessage) -> None:
    decoded = _read(base.split("?>", 1)[1].encode("gbk"))
    assert _codes(decoded) == {"tolerated.encoding"}
    _same_documents(decoded, baseline)


def test_utf8_bom(base: str, baseline: DecodedMessage, load_sample: Callable[[str], bytes]) -> None:
    assert load_sample("CEB311").startswith(b"\xef\xbb\xbf"), "the official sample itself has a BOM"
    decoded = _read(b"\xef\xbb\xbf" + base.encode("utf-8"))
    assert decoded.warnings == []
    _same_documents(decoded, baseline)
    no_decl = _read(b"\xef\xbb\xbf" + base.split("?>", 1)[1].encode("utf-8"))
    _same_documents(no_decl, baseline)


# --- attributes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.0", "V1.0"])
def test_version_with_v(base: str, baseline: DecodedMessage, version: str) -> None:
    decoded = _read(_replace_once(base, 'version="1.0"\n', f'version="{version}"\n'))
    assert decoded.version == "1.0"
    assert _codes(decoded) == {"tolerated.version"}
    assert _warning(decoded, "tolerated.version") == ["/CEB311Message/@version"]
    _same_documents(decoded, baseline)


def test_lower_case_guid(base: str, baseline: DecodedMessage) -> None:
    guid = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
    decoded = _read(_replace_once(base, f'guid="{guid}"', f'guid="{guid.lower()}"'))
    assert decoded.guid == guid.lower()
    assert _warning(decoded, "tolerated.guid") == ["/CEB311Message/@guid"]
    _same_documents(decoded, baseline)


# --- empty values, whitespace, CDATA, entities --------------------------------------------------------------


@pytest.mark.parametrize(
    "note",
    [
        "<ceb:note></ceb:note>",
        "<ceb:note/>",
        "<ceb:note />",
        "<ceb:note>   </ceb:note>",
        "<ceb:note>\n\t\t</ceb:note>",
        "<ceb:note><![CDATA[]]></ceb:note>",
    ],
    ids=["empty", "self-closing", "self-closing-space", "spaces", "newline-tabs", "empty-cdata"],
)
def test_empty_optional_element_is_none(base: str, baseline: DecodedMessage, note: str) -> None:
    decoded = _read(_replace_once(base, "<ceb:note>test</ceb:note>", note))
    assert decoded.documents[0].head["note"] is None
    assert decoded.documents[1].head["note"] == "test"
    assert decoded.warnings == []
    assert [d.lines for d in decoded.documents] == [d.lines for d in baseline.documents]


def test_official_empty_line_notes_are_none(baseline: DecodedMessage) -> None:
    assert all(line["note"] is None for d in baseline.documents for line in d.lines)


def test_surrounding_whitespace_is_trimmed_with_a_warning(base: str) -> None:
    decoded = _read(_replace_once(base, ORDER_NO, "<ceb:orderNo>\n  order20160321116421002\t</ceb:orderNo>"))
    assert decoded.documents[0].head["orderNo"] == "order20160321116421002"
    assert _warning(decoded, "tolerated.whitespace") == ["/CEB311Message/Order[1]/OrderHead/orderNo"]


def test_cdata_values(base: str, baseline: DecodedMessage) -> None:
    text = _replace_once(base, ORDER_NO, "<ceb:orderNo><![CDATA[order20160321116421002]]></ceb:orderNo>")
    text = _replace_once(
        text,
        "<ceb:buyerName>aa</ceb:buyerName>",
        '<ceb:buyerName><![CDATA[张三 & <李四> "O\'Neil"]]></ceb:buyerName>',
    )
    text = _replace_once(
        text, "<ceb:goodsValue>14000</ceb:goodsValue>", "<ceb:goodsValue><![CDATA[14000]]></ceb:goodsValue>"
    )
    decoded = _read(text)
    assert decoded.warnings == []
    head = decoded.documents[0].head
    assert head["orderNo"] == "order20160321116421002"
    assert head["buyerName"] == '张三 & <李四> "O\'Neil"'
    assert head["goodsValue"] == baseline.documents[0].head["goodsValue"]


def test_cdata_mixed_with_text(base: str) -> None:
    decoded = _read(
        _replace_once(
            base, "<ceb:buyerName>aa</ceb:buyerName>", "<ceb:buyerName>a<![CDATA[ & <b> ]]>z</ceb:buyerName>"
        )
    )
    assert decoded.documents[0].head["buyerName"] == "a & <b> z"


def test_predefined_and_character_entities(base: str) -> None:
    decoded = _read(
        _replace_once(
            base,
            "<ceb:buyerName>aa</ceb:buyerName>",
            "<ceb:buyerName>A&amp;B &lt;&#x5F20;&#19977;&gt; &quot;&apos;</ceb:buyerName>",
        )
    )
    assert decoded.documents[0].head["buyerName"] == "A&B <张三> \"'"


# --- signature ----------------------------------------------------------------------------------------------


def test_signature_with_ds_prefix(baseline: DecodedMessage) -> None:
    sig = baseline.signature
    assert sig is not None and sig.present and sig.namespace_ok
    assert sig.key_name == "0001" and sig.has_certificate
    assert sig.signature_method is not None and sig.signature_method.endswith("sm2-sm3")


def test_signature_with_default_namespace(base: str, baseline: DecodedMessage) -> None:
    text = base.replace("ds:", "").replace("xmlns:ds=", "xmlns=")
    assert f'<Signature xmlns="{DS_NS}">' in text
    decoded = _read(text)
    assert decoded.warnings == []
    assert decoded.signature == baseline.signature
    _same_documents(decoded, baseline)


def test_signature_without_namespace(base: str, baseline: DecodedMessage) -> None:
    decoded = _read(base.replace("ds:", "").replace(DS_DECL, ""))
    assert _warning(decoded, "tolerated.signature_namespace") == ["/CEB311Message/Signature"]
    assert decoded.signature is not None and not decoded.signature.namespace_ok
    assert decoded.signature.key_name == "0001"
    _same_documents(decoded, baseline)


def test_required_signature_missing_is_a_warning(sample_text: Callable[[str], str]) -> None:
    text = sample_text("CEB621")
    text = re.sub(r"<ds:Signature.*?</ds:Signature>", "", text, flags=re.S)
    decoded = _read(text)
    assert decoded.signature is None
    assert _warning(decoded, "signature.missing") == ["/CEB621Message"]


# --- BaseTransfer -------------------------------------------------------------------------------------------


def test_base_transfer_missing(base: str, baseline: DecodedMessage, transfer_block: str) -> None:
    decoded = _read(base.replace(transfer_block, ""))
    assert decoded.transfer is None
    assert _codes(decoded) == {"tolerated.transfer_missing"}
    assert _warning(decoded, "tolerated.transfer_missing") == ["/CEB311Message"]
    _same_documents(decoded, baseline)


def test_base_transfer_duplicated(base: str, baseline: DecodedMessage, transfer_block: str) -> None:
    second = transfer_block.replace(
        "<ceb:copCode>1101180326</ceb:copCode>", "<ceb:copCode>9999999999</ceb:copCode>"
    )
    decoded = _read(base.replace(transfer_block, transfer_block + second))
    assert _codes(decoded) == {"tolerated.duplicate"}
    assert _warning(decoded, "tolerated.duplicate") == ["/CEB311Message/BaseTransfer"]
    assert decoded.transfer == baseline.transfer, "the first BaseTransfer is used"
    _same_documents(decoded, baseline)


# --- element order ------------------------------------------------------------------------------------------


def test_field_order_inside_a_head(base: str, baseline: DecodedMessage) -> None:
    swapped = "<ceb:appTime>20160308112701</ceb:appTime>\n\t\t\t<ceb:appType>1</ceb:appType>"
    decoded = _read(_replace_once(base, APP_TYPE_TIME, swapped))
    assert _codes(decoded) == {"tolerated.order"}
    assert _warning(decoded, "tolerated.order") == ["/CEB311Message/Order[1]/OrderHead/appType"]
    _same_documents(decoded, baseline)


def test_field_order_inside_a_line(base: str, baseline: DecodedMessage) -> None:
    text = _replace_once(
        base,
        "<ceb:gnum>1</ceb:gnum>\n\t\t\t<ceb:itemNo>AF001-001</ceb:itemNo>",
        "<ceb:itemNo>AF001-001</ceb:itemNo>\n\t\t\t<ceb:gnum>1</ceb:gnum>",
    )
    decoded = _read(text)
    assert _warning(decoded, "tolerated.order") == ["/CEB311Message/Order[1]/OrderList[1]/gnum"]
    _same_documents(decoded, baseline)


def test_lines_before_head(base: str, baseline: DecodedMessage) -> None:
    text = re.sub(
        r"(<ceb:OrderHead>.*?</ceb:OrderHead>)(\s*)(<ceb:OrderList>.*?</ceb:OrderList>)",
        r"\3\2\1",
        base,
        count=1,
        flags=re.S,
    )
    decoded = _read(text)
    assert _warning(decoded, "tolerated.order") == ["/CEB311Message/Order[1]/OrderHead"]
    _same_documents(decoded, baseline)


def test_order_at_the_root(base: str, baseline: DecodedMessage, transfer_block: str) -> None:
    text = base.replace(transfer_block, "")
    text = _replace_once(text, "\n\t<ceb:Order>", transfer_block + "\n\t<ceb:Order>")
    assert text.index("<ceb:BaseTransfer>") < text.index("<ceb:Order>")
    decoded = _read(text)
    assert _codes(decoded) == {"tolerated.order"}
    assert _warning(decoded, "tolerated.order") == ["/CEB311Message/Order"]
    assert decoded.transfer == baseline.transfer
    _same_documents(decoded, baseline)


def test_signature_before_documents(base: str, baseline: DecodedMessage) -> None:
    sig = re.search(r"<ds:Signature.*?</ds:Signature>", base, re.S)
    assert sig
    text = base.replace(sig.group(0), "")
    text = _replace_once(text, "\n\t<ceb:Order>", "\n" + sig.group(0) + "\n\t<ceb:Order>")
    decoded = _read(text)
    assert "tolerated.order" in _codes(decoded)
    assert decoded.signature == baseline.signature
    _same_documents(decoded, baseline)


# --- unknown elements and comments --------------------------------------------------------------------------


def test_unknown_element_in_a_head(base: str, baseline: DecodedMessage) -> None:
    decoded = _read(
        _replace_once(
            base,
            "<ceb:appStatus>2</ceb:appStatus>",
            "<ceb:appStatus>2</ceb:appStatus><ceb:vendorExtra>x</ceb:vendorExtra>",
        )
    )
    assert _codes(decoded) == {"tolerated.unknown_element"}
    assert _warning(decoded, "tolerated.unknown_element") == ["/CEB311Message/Order[1]/OrderHead/vendorExtra"]
    _same_documents(decoded, baseline)


def test_unknown_elements_elsewhere(base: str, baseline: DecodedMessage) -> None:
    text = _replace_once(base, "\t<ceb:BaseTransfer>", "\t<ceb:Remark>x</ceb:Remark>\n\t<ceb:BaseTransfer>")
    text = _replace_once(
        text, "<ceb:dxpMode>DXP</ceb:dxpMode>", "<ceb:dxpMode>DXP</ceb:dxpMode><ceb:zone>1</ceb:zone>"
    )
    text = _replace_once(text, "</ceb:OrderHead>", "</ceb:OrderHead><ceb:OrderFoot>x</ceb:OrderFoot>")
    text = _replace_once(
        text, "<ceb:gnum>1</ceb:gnum>", "<x:gnum2 xmlns:x='urn:x'>1</x:gnum2><ceb:gnum>1</ceb:gnum>"
    )
    decoded = _read(text)
    assert _codes(decoded) == {"tolerated.unknown_element"}
    assert set(_warning(decoded, "tolerated.unknown_element")) == {
        "/CEB311Message/Remark",
        "/CEB311Message/BaseTransfer/zone",
        "/CEB311Message/Order[1]/OrderFoot",
        "/CEB311Message/Order[1]/OrderList[1]/gnum2",
    }
    assert decoded.transfer == baseline.transfer
    _same_documents(decoded, baseline)


def test_comments_and_processing_instructions(base: str, baseline: DecodedMessage) -> None:
    text = _replace_once(
        base, "<ceb:CEB311Message", "<!-- sent by ERP 1.0 -->\n<?erp batch='7'?>\n<ceb:CEB311Message"
    )
    text = _replace_once(text, "<ceb:appType>", "<!-- head --><ceb:appType>")
    text = _replace_once(text, "\t<ceb:Order>", "\t<!-- order 1 --><ceb:Order>")
    text = _replace_once(text, "<ceb:gnum>1</ceb:gnum>", "<ceb:gnum><!-- c -->1</ceb:gnum>")
    text = _replace_once(text, ORDER_NO, "<ceb:orderNo>order2016<!-- split -->0321116421002</ceb:orderNo>")
    text = _replace_once(
        text, "<ceb:buyerName>aa</ceb:buyerName>", "<ceb:buyerName>a<?pi x?>a</ceb:buyerName>"
    )
    text = text + "<!-- trailer -->\n"
    decoded = _read(text)
    assert decoded.warnings == []
    _same_documents(decoded, baseline)


# --- another message type -----------------------------------------------------------------------------------


def test_ceb621_variants_combined(sample_text: Callable[[str], str]) -> None:
    """Several deviations at once on the inventory list: all read, each reported once."""
    original = sample_text("CEB621")
    reference = _read(original)
    text = original.replace("ceb:", "").replace(CEB_DECL, "")
    text = _replace_once(text, 'version="1.0"\n', 'version="v1.0"\n')
    text = text.replace('encoding="UTF-8"', 'encoding="GBK"', 1)
    decoded = _read(text.encode("gbk"))
    assert _codes(decoded) == {"tolerated.namespace", "tolerated.version"}
    assert decoded.encoding == "GBK"
    _same_documents(decoded, reference)
    assert decoded.signature == reference.signature


# --- nested content, and the C accelerator against the pure-Python walk -------------------------------------

NESTED_VARIANTS = {
    "compact": "<ceb:note><ceb:b>x</ceb:b></ceb:note>",
    "pretty-printed": "<ceb:note>\n\t\t\t\t<ceb:b>x</ceb:b>\n\t\t\t</ceb:note>",
    "mixed": "<ceb:note>abc<ceb:b>x</ceb:b>def</ceb:note>",
}


def test_nested_element_in_a_leaf_is_an_error(base: str) -> None:
    decoded = decode(_replace_once(base, "<ceb:note>test</ceb:note>", NESTED_VARIANTS["compact"]).encode())
    assert [(e.code, e.path) for e in decoded.errors] == [
        ("field.nested", "/CEB311Message/Order[1]/OrderHead/note")
    ]


def test_pretty_printed_nested_element_is_an_error(base: str) -> None:
    decoded = decode(
        _replace_once(base, "<ceb:note>test</ceb:note>", NESTED_VARIANTS["pretty-printed"]).encode()
    )
    assert [(e.code, e.path) for e in decoded.errors] == [
        ("field.nested", "/CEB311Message/Order[1]/OrderHead/note")
    ]


def _extract(text: str, accelerated: bool) -> tuple[list[list[str | None]], list[tuple[str, str]]]:
    from cbec.messages.extract import Extractor
    from cbec.messages.safe_xml import parse_untrusted

    extractor = Extractor(accelerated=accelerated)
    raw = extractor.add(parse_untrusted(text.encode("utf-8")).root, 0)
    # compared as the field checks see them: trimmed, empty -> None
    rows = [
        [(v.strip() or None) if v is not None else None for v in row[3:]]
        for sink in extractor.sinks.values()
        for row in sink.frame().iter_rows()
    ]
    return rows, [(f.code, f.path) for f in raw.findings]


def _accelerator_available() -> bool:
    from cbec.messages import extract

    return extract.accelerator_available()


EXTRACT_VARIANTS = {
    "official": lambda t: t,
    "no-namespace": lambda t: t.replace("ceb:", "").replace(CEB_DECL, ""),
    "cdata": lambda t: t.replace(ORDER_NO, "<ceb:orderNo>a<![CDATA[<&>]]>b</ceb:orderNo>", 1),
    "comment-in-value": lambda t: t.replace(ORDER_NO, "<ceb:orderNo>order<!-- c -->2016</ceb:orderNo>", 1),
    "whitespace": lambda t: t.replace(ORDER_NO, "<ceb:orderNo>  x  </ceb:orderNo>", 1),
    "order": lambda t: t.replace(
        APP_TYPE_TIME, "<ceb:appTime>20160308112701</ceb:appTime><ceb:appType>1</ceb:appType>"
    ),
    "duplicate": lambda t: t.replace(ORDER_NO, ORDER_NO + "<ceb:orderNo>other</ceb:orderNo>", 1),
    "unknown": lambda t: t.replace(ORDER_NO, ORDER_NO + "<ceb:extra>1</ceb:extra>", 1),
    "foreign-namespace-field": lambda t: t.replace(ORDER_NO, "<x:orderNo xmlns:x='urn:x'>z</x:orderNo>", 1),
    "nested-compact": lambda t: t.replace("<ceb:note>test</ceb:note>", NESTED_VARIANTS["compact"], 1),
    "nested-pretty": lambda t: t.replace("<ceb:note>test</ceb:note>", NESTED_VARIANTS["pretty-printed"], 1),
    "nested-mixed": pytest.param(
        lambda t: t.replace("<ceb:note>test</ceb:note>", NESTED_VARIANTS["mixed"], 1),
    ),
}


@pytest.mark.skipif(not _accelerator_available(), reason="the C accelerator (_fastleaves) is not built")
@pytest.mark.parametrize("edit", list(EXTRACT_VARIANTS.values()), ids=list(EXTRACT_VARIANTS))
def test_accelerated_walk_matches_the_python_walk(base: str, edit: Callable[[str], str]) -> None:
    text = edit(base)
    assert _extract(text, accelerated=True) == _extract(text, accelerated=False)
