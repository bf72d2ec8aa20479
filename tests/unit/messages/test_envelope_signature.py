"""The DxpMsg terminal envelope and the enveloped XML-DSig signature.

The envelope is checked against the official terminal XSD with lxml directly; signatures are made with real
RSA keys (self-signed test identities) and checked with :func:`cbec.messages.signature.verify`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from cbec.messages.decode import DecodedMessage, decode
from cbec.messages.encode import OutDocument, encode
from cbec.messages.envelope import CUSTOMS_EXPORT_RECEIVER, CUSTOMS_IMPORT_RECEIVER, wrap
from cbec.messages.safe_xml import parse_untrusted
from cbec.messages.signature import ALGORITHMS, SigningIdentity, make_test_identity, sign, verify
from cbec.messages.spec import DS_NS
from cbec.messages.xsd import validate_bytes

SENDER = "DXPENT0000000001"
DXP = "{http://www.chinaport.gov.cn/dxp}"
DS = f"{{{DS_NS}}}"


@pytest.fixture(scope="module")
def terminal_schema(xsd_dir: Path) -> etree.XMLSchema:
    path = xsd_dir / "ceb-terminal-202205.xsd"
    return etree.XMLSchema(etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)))


@pytest.fixture(scope="module")
def alice() -> SigningIdentity:
    return make_test_identity("alice", "0001")


@pytest.fixture(scope="module")
def mallory() -> SigningIdentity:
    return make_test_identity("mallory", "0001")


def _valid(schema: etree.XMLSchema, data: bytes) -> None:
    doc = etree.fromstring(data)
    assert schema.validate(doc), str(schema.error_log)


def _same(a: DecodedMessage, b: DecodedMessage) -> None:
    assert a.message_type == b.message_type
    assert [d.head for d in a.documents] == [d.head for d in b.documents]
    assert [d.lines for d in a.documents] == [d.lines for d in b.documents]


# --- envelope -----------------------------------------------------------------------------------------------


def test_wrap_validates_against_the_terminal_xsd(
    terminal_schema: etree.XMLSchema, load_sample: Callable[[str], bytes]
) -> None:
    raw = load_sample("CEB311")
    wrapped = wrap(raw, msg_type="CEB311Message", sender_id=SENDER)
    _valid(terminal_schema, wrapped)
    root = etree.fromstring(wrapped)
    assert root.tag == f"{DXP}DxpMsg" and root.get("ver") == "1.0"
    assert root.findtext(f"{DXP}TransInfo/{DXP}SenderId") == SENDER
    assert root.findtext(f"{DXP}TransInfo/{DXP}MsgType") == "CEB311Message"
    assert [r.text for r in root.iterfind(f"{DXP}TransInfo/{DXP}ReceiverIds/{DXP}ReceiverId")] == [
        CUSTOMS_IMPORT_RECEIVER
    ]
    assert base64.b64decode(root.findtext(f"{DXP}Data") or "") == raw


def test_wrap_with_explicit_fields(
    terminal_schema: etree.XMLSchema, load_sample: Callable[[str], bytes]
) -> None:
    created = datetime(2026, 1, 2, 3, 4, 5)
    wrapped = wrap(
        load_sample("CEB303"),
        msg_type="CEB303Message",
        sender_id=SENDER,
        receiver_ids=["DXPEDCCEB0000003", "DXPENT0000000002"],
        cop_msg_id="MSG-0001",
        created=created,
    )
    _valid(terminal_schema, wrapped)
    assert wrapped == wrap(
        load_sample("CEB303"),
        msg_type="CEB303Message",
        sender_id=SENDER,
        receiver_ids=["DXPEDCCEB0000003", "DXPENT0000000002"],
        cop_msg_id="MSG-0001",
        created=created,
    ), "deterministic given its inputs"
    env = decode(wrapped).envelope
    assert env is not None
    assert env.cop_msg_id == "MSG-0001"
    assert env.receiver_ids == ["DXPEDCCEB0000003", "DXPENT0000000002"]
    assert env.create_time == "2026-01-02T03:04:05"


def test_export_messages_go_to_the_export_receiver(load_sample: Callable[[str], bytes]) -> None:
    env = decode(wrap(load_sample("CEB303"), msg_type="CEB303Message", sender_id=SENDER)).envelope
    assert env is not None and env.receiver_ids == [CUSTOMS_EXPORT_RECEIVER]


@pytest.mark.parametrize("code", ["CEB311", "CEB621", "CEB214", "CEB792"])
def test_decode_unwraps_the_envelope(load_sample: Callable[[str], bytes], code: str) -> None:
    raw = load_sample(code)
    direct = decode(raw)
    wrapped = decode(wrap(raw, msg_type=f"{code}Message", sender_id=SENDER))
    _same(wrapped, direct)
    assert wrapped.errors == direct.errors
    assert [(w.code, w.path) for w in wrapped.warnings] == [(w.code, w.path) for w in direct.warnings]
    env = wrapped.envelope
    assert env is not None
    assert env.sender_id == SENDER
    assert env.msg_type == f"{code}Message"
    assert env.cop_msg_id and env.create_time
    assert direct.envelope is None


def test_envelope_of_a_gbk_message(load_sample: Callable[[str], bytes]) -> None:
    text = load_sample("CEB311").decode("utf-8-sig").replace('encoding="UTF-8"', 'encoding="GBK"', 1)
    decoded = decode(wrap(text.encode("gbk"), msg_type="CEB311Message", sender_id=SENDER))
    assert decoded.errors == []
    assert decoded.encoding == "GBK"
    assert decoded.documents[0].head["consignee"] == "焦洪宇"


def _with_data(wrapped: bytes, data: str) -> bytes:
    root = etree.fromstring(wrapped)
    el = root.find(f"{DXP}Data")
    assert el is not None
    el.text = data
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.mark.parametrize(
    "data", ["!!!not base64!!!", "QUJD$", "QUJDRA=x"], ids=["garbage", "bad-char", "bad-pad"]
)
def test_bad_base64_is_an_error(load_sample: Callable[[str], bytes], data: str) -> None:
    wrapped = _with_data(wrap(load_sample("CEB311"), msg_type="CEB311Message", sender_id=SENDER), data)
    decoded = decode(wrapped)
    assert not decoded.ok
    assert [(e.code, e.path) for e in decoded.errors] == [("xml.malformed", "/DxpMsg/Data")]
    assert "Base64" in decoded.errors[0].message_en
    assert decoded.documents == []


def test_base64_of_something_that_is_not_xml(load_sample: Callable[[str], bytes]) -> None:
    wrapped = _with_data(
        wrap(load_sample("CEB311"), msg_type="CEB311Message", sender_id=SENDER),
        base64.b64encode(b"hello, customs").decode(),
    )
    decoded = decode(wrapped)
    assert [e.code for e in decoded.errors] == ["xml.malformed"]


def test_base64_with_line_breaks_is_read(load_sample: Callable[[str], bytes]) -> None:
    raw = load_sample("CEB311")
    b64 = base64.encodebytes(raw).decode()  # 76-character lines, as many senders produce
    assert "\n" in b64.strip()
    wrapped = _with_data(wrap(raw, msg_type="CEB311Message", sender_id=SENDER), b64)
    decoded = decode(wrapped)
    assert decoded.errors == []
    _same(decoded, decode(raw))


def test_envelope_without_data(load_sample: Callable[[str], bytes]) -> None:
    root = etree.fromstring(wrap(load_sample("CEB311"), msg_type="CEB311Message", sender_id=SENDER))
    data = root.find(f"{DXP}Data")
    assert data is not None
    root.remove(data)
    decoded = decode(etree.tostring(root))
    assert [(e.code, e.path) for e in decoded.errors] == [("document.missing", "/DxpMsg")]


def test_hostile_content_inside_the_envelope_is_refused(load_sample: Callable[[str], bytes]) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb">&b;</ceb:CEB311Message>'
    )
    decoded = decode(wrap(bomb, msg_type="CEB311Message", sender_id=SENDER))
    assert [e.code for e in decoded.errors] == ["xml.dtd_forbidden"]


# --- signature ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inventory(load_sample: Callable[[str], bytes]) -> DecodedMessage:
    decoded = decode(load_sample("CEB621"))
    assert decoded.spec is not None and decoded.spec.signature_required
    return decoded


def _signed(
    decoded: DecodedMessage, signer: SigningIdentity, algorithm: str = "rsa-sha1", pretty: bool = False
) -> bytes:
    return encode(
        decoded.message_type,
        [OutDocument(d.head, d.lines) for d in decoded.documents],
        transfer=decoded.transfer,
        guid=(decoded.guid or "").upper(),
        signer=signer,
        algorithm=algorithm,
        pretty=pretty,
    )


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_signed_message_verifies(inventory: DecodedMessage, alice: SigningIdentity, algorithm: str) -> None:
    out = _signed(inventory, alice, algorithm)
    assert validate_bytes(out, "import") == []
    root = parse_untrusted(out).root
    result = verify(root)
    assert result.valid, result.reason
    assert result.reason == "ok"
    assert result.certificate == alice.certificate
    assert verify(root, alice.certificate).valid
    sig_method, digest_method = ALGORITHMS[algorithm]
    info = decode(out).signature
    assert info is not None
    assert (info.signature_method, info.digest_method) == (sig_method, digest_method)
    assert info.key_name == alice.key_name and info.has_certificate


def test_pretty_printed_signed_message_verifies(inventory: DecodedMessage, alice: SigningIdentity) -> None:
    out = _signed(inventory, alice, pretty=True)
    assert b"\n  <ceb:Inventory>" in out
    assert validate_bytes(out, "import") == []
    assert verify(parse_untrusted(out).root).valid


def test_signature_is_the_last_child(inventory: DecodedMessage, alice: SigningIdentity) -> None:
    root = etree.fromstring(_signed(inventory, alice))
    assert root[-1].tag == f"{DS}Signature"
    reference = root[-1].find(f"{DS}SignedInfo/{DS}Reference")
    assert reference is not None and reference.get("URI") == ""


def test_changing_a_field_after_signing_is_a_digest_mismatch(
    inventory: DecodedMessage, alice: SigningIdentity
) -> None:
    out = _signed(inventory, alice)
    root = etree.fromstring(out)
    order_no = root.find(".//{http://www.chinaport.gov.cn/ceb}orderNo")
    assert order_no is not None
    order_no.text = (order_no.text or "") + "X"
    result = verify(root)
    assert not result.valid
    assert "digest mismatch" in result.reason


def test_changing_an_attribute_after_signing_is_a_digest_mismatch(
    inventory: DecodedMessage, alice: SigningIdentity
) -> None:
    root = etree.fromstring(_signed(inventory, alice))
    root.set("version", "2.0")
    assert "digest mismatch" in verify(root).reason


def test_changing_bytes_after_signing_is_a_digest_mismatch(
    inventory: DecodedMessage, alice: SigningIdentity
) -> None:
    out = _signed(inventory, alice)
    tampered = out.replace(b"<ceb:orderNo>", b"<ceb:orderNo>1", 1)
    assert tampered != out
    result = verify(parse_untrusted(tampered).root)
    assert not result.valid and "digest mismatch" in result.reason


def test_another_identitys_certificate_does_not_verify(
    inventory: DecodedMessage, alice: SigningIdentity, mallory: SigningIdentity
) -> None:
    root = parse_untrusted(_signed(inventory, alice)).root
    result = verify(root, mallory.certificate)
    assert not result.valid
    assert result.reason != "ok"


def test_swapped_embedded_certificate_does_not_verify(
    inventory: DecodedMessage, alice: SigningIdentity, mallory: SigningIdentity
) -> None:
    root = etree.fromstring(_signed(inventory, alice))
    cert = root.find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    assert cert is not None
    cert.text = mallory.certificate_b64
    assert not verify(root).valid


def test_tampered_signature_value_does_not_verify(inventory: DecodedMessage, alice: SigningIdentity) -> None:
    root = etree.fromstring(_signed(inventory, alice))
    value = root.find(f"{DS}Signature/{DS}SignatureValue")
    assert value is not None and value.text
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0xFF
    value.text = base64.b64encode(bytes(raw)).decode()
    result = verify(root)
    assert not result.valid and result.reason != "ok"


def test_re_signing_by_another_identity_verifies_only_for_that_identity(
    inventory: DecodedMessage, alice: SigningIdentity, mallory: SigningIdentity
) -> None:
    root = etree.fromstring(_signed(inventory, alice))
    old = root.find(f"{DS}Signature")
    assert old is not None
    root.remove(old)
    sign(root, mallory)
    assert verify(root).valid
    assert not verify(root, alice.certificate).valid


def test_unsigned_and_official_dummy_signatures(
    load_sample: Callable[[str], bytes], inventory: DecodedMessage
) -> None:
    unsigned = encode(
        "CEB311Message",
        [OutDocument(d.head, d.lines) for d in decode(load_sample("CEB311")).documents],
        transfer=inventory.transfer,
    )
    result = verify(etree.fromstring(unsigned))
    assert not result.valid and result.reason == "no signature"
    official = verify(parse_untrusted(load_sample("CEB621")).root)
    assert not official.valid
    assert "SM2" in official.reason


def test_signed_message_survives_the_envelope(
    inventory: DecodedMessage, alice: SigningIdentity, terminal_schema: etree.XMLSchema
) -> None:
    out = _signed(inventory, alice)
    wrapped = wrap(out, msg_type="CEB621Message", sender_id=SENDER)
    _valid(terminal_schema, wrapped)
    data = etree.fromstring(wrapped).findtext(f"{DXP}Data") or ""
    assert verify(parse_untrusted(base64.b64decode(data)).root).valid
    decoded = decode(wrapped)
    assert decoded.errors == [] and decoded.signature is not None
    assert decoded.signature.key_name == alice.key_name
