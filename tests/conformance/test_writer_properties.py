"""Property tests: for every message type, whatever records the field table allows, the writer emits a message
the official XSD accepts and the reader gives the same values back; and the reader never raises on any bytes.

Records are generated from the field table itself (one strategy per :class:`cbec.messages.spec.Field`),
so a new or changed field is covered without touching this file.  Runs are derandomised so the suite is
deterministic.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cbec.messages.codes import field_code_sets
from cbec.messages.decode import DecodedMessage, decode
from cbec.messages.encode import EncodeError, OutDocument, encode, format_value
from cbec.messages.findings import CATALOGUE
from cbec.messages.signature import make_test_identity
from cbec.messages.spec import Entity, Field, MessageSpec, catalogue, message_spec, message_types
from cbec.messages.xsd import FILES, validate_bytes, xsd_available, xsd_dir

IDENTITY = make_test_identity()
XS = "{http://www.w3.org/2001/XMLSchema}"

PROPERTY_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Printable text as enterprises send it: ASCII, XML's special characters, Chinese (a fixed alphabet, which
# Hypothesis draws from quickly; drawing character by character from a union is an order of magnitude slower).
_CHINESE = (
    "中国海关跨境电商东方物通科技北京有限公司焦洪宇上海深圳广州杭州宁波郑州重庆天津保税区进口出口订单运单清单支付"
    "企业平台物流申报报关商品名称规格型号数量单价总价币制原产国收货人地址电话证件号码备注退货撤销汇总离境入库"
)
_ALPHABET = string.ascii_letters + string.digits + " -_.,:;/()#@+*=%!?[]{}|~^$" + "&<>\"'" + _CHINESE
_CHARS = st.sampled_from(sorted(set(_ALPHABET)))
_MAX_GENERATED = 24  # longer limits are still exercised at their exact maximum, see _text


def _no_edge_space(s: str) -> str:
    """The reader trims values, so a value with leading or trailing whitespace would not round-trip."""
    if s[:1] == " ":
        s = "中" + s[1:]
    if s[-1:] == " ":
        s = s[:-1] + "国"
    return s


@cache
def _fixed_text(n: int) -> st.SearchStrategy[str]:
    if n <= _MAX_GENERATED:
        return st.text(alphabet=_CHARS, min_size=n, max_size=n).map(_no_edge_space)
    # long values (up to C..5000): a short random pattern repeated to the exact length, cheap to draw
    return st.text(alphabet=_CHARS, min_size=1, max_size=_MAX_GENERATED).map(
        lambda s: _no_edge_space((s * (n // len(s) + 1))[:n])
    )


def _text(f: Field) -> st.SearchStrategy[str]:
    if f.length is not None:
        return _fixed_text(f.length)
    low = max(f.min_length or 0, 1)
    high = f.max_length if f.max_length is not None else 200
    strategy = st.text(alphabet=_CHARS, min_size=low, max_size=max(low, min(high, _MAX_GENERATED)))
    if high > _MAX_GENERATED:
        strategy = st.one_of(strategy, _fixed_text(high))
    return strategy.map(_no_edge_space)


def _decimal(f: Field) -> st.SearchStrategy[Decimal]:
    total = f.total_digits or 19
    frac = f.fraction_digits or 0
    whole = total - frac

    def with_places(places: int) -> st.SearchStrategy[Decimal]:
        top = Decimal(10**whole) - Decimal(1).scaleb(-places)
        return st.decimals(
            min_value=-top, max_value=top, places=places, allow_nan=False, allow_infinity=False
        )

    return st.integers(0, frac).flatmap(with_places)


def _int(f: Field) -> st.SearchStrategy[int]:
    if f.total_digits:
        top = 10**f.total_digits - 1
        return st.integers(-top, top)
    return st.integers(-(2**31), 2**31 - 1)  # xs:int


_DATETIMES = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
)


def _code_set(f: Field) -> list[str] | None:
    entry = field_code_sets().get(f.name)
    if entry is None:
        return None
    table = entry[0] if isinstance(entry, tuple) else entry  # (codes, strict), or just the codes
    fits = [
        c
        for c in sorted(table)
        if (f.length is None or len(c) == f.length) and (f.max_length is None or len(c) <= f.max_length)
    ]
    return fits or None


@cache
def xsd_fixed_values(family: str) -> dict[tuple[str, str], str]:
    """(entity, field) -> the value the official XSD fixes (``<xs:element name="currency" fixed="142">``).

    The field table does not carry ``fixed``; read it from the XSD so that generated records are ones the XSD
    can accept at all.  (That the writer does not refuse other values is reported by a test of its own.)
    """
    path = xsd_dir() / FILES[family]
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    out: dict[tuple[str, str], str] = {}
    for el in tree.iter(f"{XS}element"):
        fixed = el.get("fixed")
        if fixed is None:
            continue
        entity = next(a for a in el.iterancestors(f"{XS}element"))
        out[(entity.get("name", ""), el.get("name", ""))] = fixed
    return out


def value_strategy(f: Field, fixed: str | None = None) -> st.SearchStrategy[Any]:
    if fixed is not None:
        return st.just(fixed)
    if f.format == "date8":
        return st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31))
    if f.format in ("ts14", "ts17"):
        return _DATETIMES
    if f.type == "decimal":
        return _decimal(f)
    if f.type == "int":
        return _int(f)
    codes = _code_set(f)
    if codes is not None:
        return st.sampled_from(codes)
    return _text(f)


@cache
def record_strategy(entity: Entity, family: str) -> st.SearchStrategy[dict[str, Any]]:
    fixed = xsd_fixed_values(family)
    required = {
        f.name: value_strategy(f, fixed.get((entity.name, f.name))) for f in entity.fields if f.required
    }
    optional = {
        f.name: value_strategy(f, fixed.get((entity.name, f.name))) for f in entity.fields if not f.required
    }
    return st.fixed_dictionaries(required, optional=optional)


def expected_value(f: Field, value: Any) -> Any:
    """What the reader should give back for a value we wrote."""
    if value is None:
        return None
    if f.format == "ts14":
        return value.replace(microsecond=0)
    if f.format == "ts17":
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if f.format == "date8":
        return value if not isinstance(value, datetime) else value.date()
    if f.type == "decimal":
        return Decimal(value)
    if f.type == "int":
        return int(value)
    return str(value).strip()


@st.composite
def message_strategy(draw: st.DrawFn, spec: MessageSpec) -> tuple[list[OutDocument], dict[str, Any] | None]:
    max_docs = min(3, spec.documents_max or 3)
    n_docs = draw(st.integers(max(1, spec.documents_min), max_docs))
    docs = []
    for _ in range(n_docs):
        head = draw(record_strategy(spec.head, spec.family))
        lines: list[dict[str, Any]] = []
        if spec.wrapped and spec.lines is not None:
            top = min(spec.lines_max if spec.lines_max is not None else 3, 3)
            n_lines = draw(st.integers(spec.lines_min, max(spec.lines_min, top)))
            lines = [draw(record_strategy(spec.lines, spec.family)) for _ in range(n_lines)]
        docs.append(OutDocument(head, lines))
    transfer = (
        draw(record_strategy(catalogue().envelope["BaseTransfer"], spec.family))
        if spec.kind == "data"
        else None
    )
    return docs, transfer


def _assert_same_record(entity: Entity, written: dict[str, Any], read: dict[str, Any], where: str) -> None:
    assert set(read) == set(entity.names), where
    for f in entity.fields:
        want = expected_value(f, written.get(f.name))
        got = read[f.name]
        assert got == want, f"{where}/{f.name}: wrote {written.get(f.name)!r}, read {got!r}"


def _clean(decoded: DecodedMessage) -> None:
    assert decoded.errors == [], [str(e) for e in decoded.errors[:5]]
    assert decoded.warnings == [], [str(w) for w in decoded.warnings[:5]]


def _roundtrip_test(message_type: str) -> Callable[..., None]:
    spec = message_spec(message_type)

    @PROPERTY_SETTINGS
    @given(message=message_strategy(spec))
    def check(message: tuple[list[OutDocument], dict[str, Any] | None]) -> None:
        docs, transfer = message
        out = encode(
            message_type, docs, transfer=transfer, signer=IDENTITY if spec.signature_required else None
        )
        findings = validate_bytes(out, spec.family)
        assert findings == [], [f.message_en for f in findings[:3]]

        decoded = decode(out)
        _clean(decoded)
        assert decoded.message_type == message_type
        assert len(decoded.documents) == len(docs)
        for k, (written, read) in enumerate(zip(docs, decoded.documents, strict=True)):
            where = f"/{message_type}/{spec.document}[{k + 1}]"
            _assert_same_record(spec.head, dict(written.head), read.head, where)
            assert len(read.lines) == len(written.lines), where
            if spec.lines is not None:
                for j, (wl, rl) in enumerate(zip(written.lines, read.lines, strict=True)):
                    _assert_same_record(spec.lines, dict(wl), rl, f"{where}/{spec.lines.name}[{j + 1}]")
        if transfer is not None:
            entity = catalogue().envelope["BaseTransfer"]
            want = {f.name: format_value(f, transfer[f.name]) for f in entity.fields if f.name in transfer}
            assert {k: v for k, v in (decoded.transfer or {}).items() if v is not None} == want
        if spec.signature_required:
            assert decoded.signature is not None and decoded.signature.key_name == IDENTITY.key_name

    return check


@pytest.mark.parametrize("message_type", message_types())
def test_writer_output_validates_and_reads_back(message_type: str, xsd_dir: Path) -> None:
    assert xsd_available(), "cbec.messages.xsd does not find the XSDs the tests found"
    _roundtrip_test(message_type)()


def test_every_type_is_covered() -> None:
    types = message_types()
    assert len(types) == len(set(types)) >= 40
    assert {"CEB311Message", "CEB621Message", "CEB792Message", "CEB900Message"} <= set(types)


# --- the reader never raises ------------------------------------------------------------------------------


def _assert_findings_well_formed(decoded: DecodedMessage) -> None:
    for f in decoded.findings:
        assert f.severity in ("error", "warning")
        assert f.code in CATALOGUE
        assert f.path.startswith("/")
        assert f.message_en and f.message_zh


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=4096))
def test_decoder_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    decoded = decode(data)
    assert isinstance(decoded, DecodedMessage)
    assert decoded.errors, "arbitrary bytes are not a CEB message"
    _assert_findings_well_formed(decoded)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    prefix=st.sampled_from(
        [
            b"",
            b"<?xml version='1.0' encoding='GBK'?>",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"<ceb:CEB311Message xmlns:ceb='http://www.chinaport.gov.cn/ceb'>",
        ]
    ),
    data=st.binary(max_size=512),
)
def test_decoder_never_raises_on_arbitrary_bytes_after_a_plausible_start(prefix: bytes, data: bytes) -> None:
    decoded = decode(prefix + data)
    assert decoded.errors
    _assert_findings_well_formed(decoded)


_MUTATED_SAMPLES = ("CEB311", "CEB621", "CEB303", "CEB214", "CEB792")


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    which=st.sampled_from(_MUTATED_SAMPLES),
    how=st.sampled_from(["truncate", "flip", "insert", "delete"]),
    where=st.floats(min_value=0.0, max_value=1.0),
    byte=st.integers(1, 255),
)
def test_decoder_never_raises_on_mutated_messages(
    load_sample: Callable[[str], bytes], which: str, how: str, where: float, byte: int
) -> None:
    raw = bytearray(load_sample(which))
    i = min(int(where * len(raw)), len(raw) - 1)
    if how == "truncate":
        mutated = bytes(raw[:i])
    elif how == "flip":
        raw[i] ^= byte
        mutated = bytes(raw)
    elif how == "insert":
        mutated = bytes(raw[:i]) + bytes([byte]) + bytes(raw[i:])
    else:
        mutated = bytes(raw[:i]) + bytes(raw[i + 1 :])
    decoded = decode(mutated)
    assert isinstance(decoded, DecodedMessage)
    _assert_findings_well_formed(decoded)
    if how == "truncate" and i < len(raw) - 64:
        assert decoded.errors, "a message cut short is refused"


# --- the writer refuses what the XSD refuses --------------------------------------------------------------


Order = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # head, first line, BaseTransfer of a sample
_RAW_EXCEPTION = (
    "BUG: encode() lets decimal.InvalidOperation / ValueError escape for a non-numeric value in a decimal or "
    "int field (format_value converts before _check runs) instead of raising EncodeError naming the path"
)


@pytest.fixture(scope="module")
def order(load_sample: Callable[[str], bytes]) -> Order:
    decoded = decode(load_sample("CEB311"))
    doc = decoded.documents[0]
    assert decoded.transfer is not None
    return dict(doc.head), dict(doc.lines[0]), dict(decoded.transfer)


def _encode_order(
    order: Order,
    head: dict[str, Any] | None = None,
    line: dict[str, Any] | None = None,
) -> bytes:
    h, ln, transfer = order
    return encode(
        "CEB311Message", [OutDocument({**h, **(head or {})}, [{**ln, **(line or {})}])], transfer=transfer
    )


@pytest.mark.parametrize(
    ("head", "line", "code", "path"),
    [
        ({"orderNo": "X" * 61}, {}, "field.length", "/CEB311Message/Order[1]/OrderHead/orderNo"),
        ({"guid": "short"}, {}, "field.length", "/CEB311Message/Order[1]/OrderHead/guid"),
        (
            {"goodsValue": Decimal("1.123456")},
            {},
            "field.decimal",
            "/CEB311Message/Order[1]/OrderHead/goodsValue",
        ),
        (
            {"goodsValue": Decimal("1" * 15)},
            {},
            "field.decimal",
            "/CEB311Message/Order[1]/OrderHead/goodsValue",
        ),
        pytest.param(
            {"goodsValue": "12a"}, {}, "field.decimal", "/CEB311Message/Order[1]/OrderHead/goodsValue"
        ),
        ({"appTime": "2016-03-08"}, {}, "field.length", "/CEB311Message/Order[1]/OrderHead/appTime"),
        ({"orderNo": None}, {}, "field.required", "/CEB311Message/Order[1]/OrderHead/orderNo"),
        ({"orderNo": "   "}, {}, "field.required", "/CEB311Message/Order[1]/OrderHead/orderNo"),
        pytest.param({}, {"gnum": "x"}, "field.integer", "/CEB311Message/Order[1]/OrderList[1]/gnum"),
        ({"madeUp": 1}, {}, "tolerated.unknown_element", "/CEB311Message/Order[1]/OrderHead/madeUp"),
    ],
    ids=[
        "over-length",
        "fixed-length",
        "fraction",
        "too-many-digits",
        "not-a-number",
        "time-text",
        "missing",
        "blank",
        "not-an-int",
        "unknown-key",
    ],
)
def test_writer_refuses_bad_values(
    order: Order, head: dict[str, Any], line: dict[str, Any], code: str, path: str
) -> None:
    with pytest.raises(EncodeError) as info:
        _encode_order(order, head, line)
    assert [(f.code, f.path) for f in info.value.findings] == [(code, path)]
    assert all(f.severity == "error" for f in info.value.findings)


def test_writer_refuses_structural_problems(order: Order) -> None:
    h, ln, transfer = order
    with pytest.raises(EncodeError) as info:
        encode("CEB311Message", [OutDocument(h, [])], transfer=transfer)
    assert [f.code for f in info.value.findings] == ["document.lines_missing"]
    with pytest.raises(EncodeError) as info:
        encode("CEB311Message", [OutDocument(h, [ln])])
    assert [f.code for f in info.value.findings] == ["transfer.missing"]
    with pytest.raises(EncodeError) as info:
        encode("CEB311Message", [], transfer=transfer)
    assert [f.code for f in info.value.findings] == ["document.missing"]
    with pytest.raises(EncodeError) as info:
        encode("CEB311Message", [OutDocument(h, [ln])] * 101, transfer=transfer)
    assert [f.code for f in info.value.findings] == ["document.too_many"]


def test_writer_output_of_the_sample_order_validates(order: Order) -> None:
    assert validate_bytes(_encode_order(order), "import") == []


def test_writer_refuses_values_the_xsd_fixes(order: Order) -> None:
    try:
        out = _encode_order(order, head={"currency": "110"})
    except EncodeError:
        return
    assert validate_bytes(out, "import") == [], "the writer emitted a message the XSD rejects"


@pytest.mark.parametrize("gnum", [2**31, -(2**31) - 1, 10**12])
def test_writer_refuses_ints_outside_xs_int(order: Order, gnum: int) -> None:
    try:
        out = _encode_order(order, line={"gnum": gnum})
    except EncodeError:
        return
    assert validate_bytes(out, "import") == [], "the writer emitted a message the XSD rejects"


def test_writer_accepts_empty_values_the_xsd_allows() -> None:
    head = {
        "guid": "A" * 36,
        "returnStatus": "-1",
        "returnInfo": "x",
        "returnTime": datetime(2026, 1, 1),
        "oriCopMsgId": "",
        "oriMessageType": "unknown",
        "oriBizMessage": "",
    }
    out = encode("CEB900Message", [OutDocument(head)])
    assert validate_bytes(out, "import") == []
