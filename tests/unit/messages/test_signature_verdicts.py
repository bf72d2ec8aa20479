"""verify_message: every way a signature can fail gives the spec's codes, for SM2-SM3 and RSA alike; any
single-byte change of a signed field is caught; requires_signature follows the spec's tables."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cbec.messages.envelope import wrap
from cbec.messages.signature import (
    SIGNATURE_METHODS,
    Refusal,
    Signer,
    make_sm2_test_identity,
    make_test_identity,
    requires_signature,
    sign_message,
    verify_message,
)
from cbec.messages.signature_verdict import codes_of
from cbec.messages.spec import DS_NS
from cbec.params.codes import code_table

DS = f"{{{DS_NS}}}"
NOW = datetime.now(UTC)
ALGORITHMS = ["sm2-sm3", "rsa-sha1", "rsa-sha256"]


def _identity(algorithm: str, name: str, key_name: str = "0001", **validity: datetime) -> Signer:
    if algorithm == "sm2-sm3":
        return make_sm2_test_identity(name, key_name, **validity)
    return make_test_identity(name, key_name, **validity)


@pytest.fixture(scope="module", params=ALGORITHMS)
def algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def alice(algorithm: str) -> Signer:
    return _identity(algorithm, "alice", "CARD-ALICE")


@pytest.fixture(scope="module")
def mallory(algorithm: str) -> Signer:
    return _identity(algorithm, "mallory", "CARD-ALICE")


@pytest.fixture(scope="module")
def signed(load_sample: Callable[[str], bytes], alice: Signer, algorithm: str) -> bytes:
    return sign_message(load_sample("CEB621"), alice, algorithm)


def _refused(xml: bytes, refusal: Refusal, *args: object, **kwargs: object) -> None:
    verdict = verify_message(xml, *args, **kwargs)  # type: ignore[arg-type]
    assert not verdict.ok, verdict
    assert verdict.refusal is refusal, verdict.reason
    assert (verdict.dxp_code, verdict.business_code) == codes_of(refusal)
    assert verdict.reason_zh and verdict.reason_en and verdict.reason_zh != verdict.reason_en


def _edit(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def test_signed_list_is_accepted(signed: bytes, alice: Signer, algorithm: str) -> None:
    verdict = verify_message(signed, alice.certificate, at=NOW, key_name="CARD-ALICE")
    assert verdict.ok, verdict.reason
    assert (verdict.algorithm, verdict.key_name, verdict.signed, verdict.required) == (
        algorithm,
        "CARD-ALICE",
        True,
        True,
    )
    assert verdict.dxp_code is None and verdict.business_code is None
    root = etree.fromstring(signed)
    method = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}SignatureMethod")
    digest = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference/{DS}DigestMethod")
    assert method is not None and digest is not None
    assert (method.get("Algorithm"), digest.get("Algorithm")) == SIGNATURE_METHODS[algorithm]


def test_registered_certificate_may_be_pem_or_der(signed: bytes, alice: Signer) -> None:
    from cryptography.hazmat.primitives import serialization

    for form in (serialization.Encoding.PEM, serialization.Encoding.DER):
        assert verify_message(signed, alice.certificate.public_bytes(form), at=NOW).ok
    assert verify_message(signed, alice.certificate_b64, at=NOW).ok


def test_naive_time_is_beijing_time(signed: bytes, alice: Signer) -> None:
    end = alice.certificate.not_valid_after_utc
    beijing = (end + timedelta(hours=8)).replace(tzinfo=None)
    assert verify_message(signed, alice.certificate, at=beijing - timedelta(minutes=1)).ok
    _refused(signed, Refusal.EXPIRED, alice.certificate, at=beijing + timedelta(minutes=1))


def test_missing_signature_where_required(load_sample: Callable[[str], bytes], alice: Signer) -> None:
    unsigned = _edit(load_sample("CEB621"), lambda r: r.remove(r.find(f"{DS}Signature")))  # type: ignore[arg-type]
    _refused(unsigned, Refusal.MISSING, alice.certificate, at=NOW)


def test_unsigned_order_needs_no_signature(load_sample: Callable[[str], bytes], alice: Signer) -> None:
    order = _edit(load_sample("CEB311"), lambda r: r.remove(r.find(f"{DS}Signature")))  # type: ignore[arg-type]
    verdict = verify_message(order, alice.certificate, at=NOW)
    assert verdict.ok and not verdict.signed and not verdict.required
    # a signature it need not carry must still be right when it is there (the sample's is a placeholder)
    assert not verify_message(load_sample("CEB311"), alice.certificate, at=NOW).ok


def test_export_list_needs_a_signature_only_when_declared(
    load_sample: Callable[[str], bytes], alice: Signer
) -> None:
    def unsigned(status: str) -> Callable[[etree._Element], None]:
        def change(root: etree._Element) -> None:
            for sig in root.findall(f"{DS}Signature"):
                root.remove(sig)
            for el in root.iter("{*}appStatus"):
                el.text = status

        return change

    sample = load_sample("CEB603")
    _refused(_edit(sample, unsigned("2")), Refusal.MISSING, alice.certificate, at=NOW)
    assert verify_message(_edit(sample, unsigned("1")), alice.certificate, at=NOW).ok


def test_signature_value_wrong(signed: bytes, alice: Signer) -> None:
    def flip(root: etree._Element) -> None:
        value = root.find(f"{DS}Signature/{DS}SignatureValue")
        assert value is not None and value.text
        raw = bytearray(base64.b64decode(value.text))
        raw[len(raw) // 2] ^= 0x5A
        value.text = base64.b64encode(bytes(raw)).decode()

    _refused(_edit(signed, flip), Refusal.BAD_SIGNATURE, alice.certificate, at=NOW)


def test_signed_data_altered(signed: bytes, alice: Signer) -> None:
    altered = signed.replace(b"<ceb:orderNo>", b"<ceb:orderNo>9", 1)
    assert altered != signed
    _refused(altered, Refusal.DIGEST_MISMATCH, alice.certificate, at=NOW)


def test_digest_recomputed_after_altering_still_fails(signed: bytes, alice: Signer, algorithm: str) -> None:
    """Whoever changes the data and fixes the DigestValue still cannot fix the SignatureValue."""
    from cbec.messages import sm2
    from cbec.messages.signature import _c14n

    def forge(root: etree._Element) -> None:
        order = root.find(".//{*}orderNo")
        assert order is not None
        order.text = "FORGED"
        sig = root.find(f"{DS}Signature")
        assert sig is not None
        root.remove(sig)
        hashed = {"sm2-sm3": sm2.sm3}.get(algorithm)
        import hashlib

        data = _c14n(root)
        digest = hashed(data) if hashed else hashlib.new(algorithm.split("-")[1], data).digest()
        root.append(sig)
        value = sig.find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
        assert value is not None
        value.text = base64.b64encode(digest).decode()

    _refused(_edit(signed, forge), Refusal.BAD_SIGNATURE, alice.certificate, at=NOW)


def test_certificate_not_the_registered_one(signed: bytes, mallory: Signer) -> None:
    _refused(signed, Refusal.CERTIFICATE_MISMATCH, mallory.certificate, at=NOW)


def test_signed_by_another_key_without_embedded_certificate(signed: bytes, mallory: Signer) -> None:
    def strip(root: etree._Element) -> None:
        data = root.find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data")
        assert data is not None
        parent = data.getparent()
        assert parent is not None
        parent.remove(data)

    _refused(_edit(signed, strip), Refusal.BAD_SIGNATURE, mallory.certificate, at=NOW)


def test_key_name_not_the_registered_one(signed: bytes, alice: Signer) -> None:
    _refused(signed, Refusal.KEY_NAME_MISMATCH, alice.certificate, at=NOW, key_name="CARD-OTHER")


def test_expired_certificate(load_sample: Callable[[str], bytes], algorithm: str) -> None:
    old = _identity(algorithm, "old", not_before=NOW - timedelta(days=800), not_after=NOW - timedelta(days=1))
    signed = sign_message(load_sample("CEB621"), old, algorithm)
    _refused(signed, Refusal.EXPIRED, old.certificate, at=NOW)
    assert verify_message(signed, old.certificate, at=NOW - timedelta(days=2)).ok


def test_not_yet_valid_certificate(load_sample: Callable[[str], bytes], algorithm: str) -> None:
    new = _identity(algorithm, "new", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=400))
    signed = sign_message(load_sample("CEB621"), new, algorithm)
    _refused(signed, Refusal.NOT_YET_VALID, new.certificate, at=NOW)
    assert verify_message(signed, new.certificate, at=NOW + timedelta(days=2)).ok


def test_no_registered_certificate(signed: bytes) -> None:
    _refused(signed, Refusal.NO_CERTIFICATE, None, at=NOW)


def test_algorithm_that_does_not_fit_the_certificate(signed: bytes, algorithm: str) -> None:
    """An SM2 signature checked against an RSA certificate (or the reverse) is refused, not crashed on."""
    other = make_test_identity("rsa") if algorithm == "sm2-sm3" else make_sm2_test_identity("sm2")

    def strip(root: etree._Element) -> None:
        data = root.find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data")
        assert data is not None and data.getparent() is not None
        data.getparent().remove(data)  # type: ignore[union-attr]

    _refused(_edit(signed, strip), Refusal.KEY_ALGORITHM_MISMATCH, other.certificate, at=NOW)


def test_unsupported_algorithm(signed: bytes, alice: Signer) -> None:
    def other(root: etree._Element) -> None:
        method = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}SignatureMethod")
        assert method is not None
        method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#dsa-sha1")

    _refused(_edit(signed, other), Refusal.UNSUPPORTED_ALGORITHM, alice.certificate, at=NOW)


@pytest.mark.parametrize("broken", ["no-signed-info", "bad-base64", "two-signatures"])
def test_malformed_signature(signed: bytes, alice: Signer, broken: str) -> None:
    def change(root: etree._Element) -> None:
        sig = root.find(f"{DS}Signature")
        assert sig is not None
        if broken == "no-signed-info":
            sig.remove(sig[0])
        elif broken == "bad-base64":
            value = sig.find(f"{DS}SignatureValue")
            assert value is not None
            value.text = "@@not base64@@"
        else:
            root.append(etree.fromstring(etree.tostring(sig)))

    _refused(_edit(signed, change), Refusal.MALFORMED, alice.certificate, at=NOW)


def test_not_xml(alice: Signer) -> None:
    _refused(b"<ceb:CEB621Message", Refusal.NOT_XML, alice.certificate, at=NOW)


def test_envelope_is_opened(signed: bytes, alice: Signer) -> None:
    wrapped = wrap(signed, msg_type="CEB621Message", sender_id="DXPENT0000000001")
    assert verify_message(wrapped, alice.certificate, at=NOW).ok
    tampered = wrap(
        signed.replace(b"<ceb:orderNo>", b"<ceb:orderNo>9", 1), msg_type="CEB621Message", sender_id="X"
    )
    _refused(tampered, Refusal.DIGEST_MISMATCH, alice.certificate, at=NOW)


def test_official_sample_dummy_signature_is_refused(load_sample: Callable[[str], bytes]) -> None:
    """The official samples carry a placeholder SM2-SM3 signature with an RSA certificate; it cannot pass."""
    from cbec.messages.signature import load_certificate

    sample = load_sample("CEB621")
    embedded = etree.fromstring(sample).findtext(f".//{DS}X509Certificate") or ""
    verdict = verify_message(sample, load_certificate(embedded.encode()), at=datetime(2020, 1, 1, tzinfo=UTC))
    assert not verdict.ok and verdict.refusal is Refusal.DIGEST_MISMATCH


def test_every_refusal_code_is_in_the_code_tables() -> None:
    dxp, business = code_table("dxp_error"), code_table("business_error")
    for refusal in Refusal:
        dxp_code, business_code = codes_of(refusal)
        assert dxp_code in dxp, refusal
        assert business_code is None or business_code in business, refusal
    assert {codes_of(r)[0] for r in Refusal} == {"0001", "1001", "1002", "1004"}
    assert {codes_of(r)[1] for r in Refusal} == {None, "-621028", "-621029"}


def test_verdict_as_dict(signed: bytes, alice: Signer) -> None:
    verdict = verify_message(
        signed.replace(b"<ceb:orderNo>", b"<ceb:orderNo>9", 1), alice.certificate, at=NOW
    )
    assert verdict.as_dict() | {"reasonZh": "", "reasonEn": ""} == {
        "ok": False,
        "refusal": "digest_mismatch",
        "dxpCode": "1004",
        "businessCode": "-621028",
        "reasonZh": "",
        "reasonEn": "",
        "algorithm": verdict.algorithm,
        "keyName": "CARD-ALICE",
        "signed": True,
        "required": True,
    }
    assert " / " in verdict.reason


# --- any single-byte change of a signed field's text is caught --------------------------------------------

_FIELD = re.compile(rb"<ceb:(\w+)>([^<]+)</ceb:\1>")
_REPLACEMENTS = [b for b in range(0x20, 0x7F) if b not in b"<>&"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_of_a_field_is_caught(
    signed: bytes, alice: Signer, data: st.DataObject
) -> None:
    body = signed[: signed.index(b"<ds:Signature")]
    fields = [m for m in _FIELD.finditer(body) if m.group(1) != b"appStatus"]
    match = data.draw(st.sampled_from(fields), label="field")
    offset = data.draw(st.integers(match.start(2), match.end(2) - 1), label="offset")
    byte = data.draw(st.sampled_from([b for b in _REPLACEMENTS if b != signed[offset]]), label="byte")
    changed = signed[:offset] + bytes([byte]) + signed[offset + 1 :]
    verdict = verify_message(changed, alice.certificate, at=NOW)
    assert not verdict.ok
    # a change that breaks the XML itself (half of a UTF-8 character, an entity) is refused as not XML
    assert verdict.refusal in (Refusal.DIGEST_MISMATCH, Refusal.NOT_XML), verdict.reason


# --- which messages must be signed -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["621", "623", "625", "711"])
@pytest.mark.parametrize("status", ["1", "2", None])
def test_import_lists_cancellations_returns_and_warehouse_entries_always(
    code: str, status: str | None
) -> None:
    assert requires_signature(f"CEB{code}Message", {"appStatus": status})
    assert requires_signature(code)
    assert requires_signature(f"CEB{code}")


@pytest.mark.parametrize("code", ["603", "605", "607", "507", "509", "701"])
def test_export_documents_when_declared(code: str) -> None:
    assert requires_signature(f"CEB{code}Message", {"appStatus": "2"})
    assert requires_signature(f"CEB{code}Message", [{"appStatus": "1"}, {"appStatus": " 2 "}])
    assert not requires_signature(f"CEB{code}Message", {"appStatus": "1"})
    assert not requires_signature(f"CEB{code}Message")


@pytest.mark.parametrize(
    "code", ["311", "411", "511", "513", "303", "403", "505", "213", "215", "622", "900"]
)
def test_orders_payments_waybills_and_receipts_never(code: str) -> None:
    assert not requires_signature(f"CEB{code}Message", {"appStatus": "2"})


def test_unknown_message_type() -> None:
    assert not requires_signature("Hello", {"appStatus": "2"})
