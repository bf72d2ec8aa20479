"""A signed message of every type the spec requires to be signed still validates against the official XSD —
for SM2-SM3 and RSA-SHA1 — and verifies.  Export messages with ExtendMessage show that the Signature goes
where the export XSD wants it (before ExtendMessage), not simply last."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from cbec.messages.decode import decode
from cbec.messages.encode import OutDocument, encode
from cbec.messages.signature import (
    Signer,
    make_sm2_test_identity,
    make_test_identity,
    requires_signature,
    sign_message,
    verify_message,
)
from cbec.messages.spec import DS_NS, message_spec
from cbec.messages.xsd import validate_bytes

# the types that must (CEB621/623/625/711) or, when declared, must (the export ones) carry a signature
SIGNED_TYPES = [
    "CEB621",
    "CEB623",
    "CEB625",
    "CEB711",
    "CEB507",
    "CEB509",
    "CEB603",
    "CEB605",
    "CEB607",
    "CEB701",
]
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def identities() -> dict[str, Signer]:
    return {"sm2-sm3": make_sm2_test_identity("conformance"), "rsa-sha1": make_test_identity("conformance")}


def _declared(spec_dir: Path, code: str) -> bytes:
    """The official sample re-encoded by the strict writer, unsigned, with every document declared."""
    family = "import" if (spec_dir / "samples" / "import" / f"{code}Message.xml").exists() else "export"
    decoded = decode((spec_dir / "samples" / family / f"{code}Message.xml").read_bytes())
    assert decoded.spec is not None and decoded.guid is not None
    documents = [OutDocument({**d.head, "appStatus": "2"}, d.lines) for d in decoded.documents]
    placeholder = make_test_identity("placeholder") if decoded.spec.signature_required else None
    return encode(
        decoded.message_type,
        documents,
        transfer=decoded.transfer,
        subscribes=decoded.subscribes,
        guid=decoded.guid.upper(),
        signer=placeholder,
    )


@pytest.mark.parametrize("algorithm", ["sm2-sm3", "rsa-sha1"])
@pytest.mark.parametrize("code", SIGNED_TYPES)
def test_signed_message_validates_and_verifies(
    spec_dir: Path, identities: dict[str, Signer], code: str, algorithm: str
) -> None:
    spec = message_spec(f"{code}Message")
    assert requires_signature(spec.root, {"appStatus": "2"})
    identity = identities[algorithm]
    signed = sign_message(_declared(spec_dir, code), identity, algorithm)
    assert validate_bytes(signed, spec.family) == []
    root = etree.fromstring(signed)
    assert len(root.findall(f"{{{DS_NS}}}Signature")) == 1
    verdict = verify_message(signed, identity.certificate, at=NOW)
    assert verdict.ok and verdict.signed and verdict.algorithm == algorithm, verdict.reason


@pytest.mark.parametrize("code", ["CEB603", "CEB701"])
def test_export_signature_goes_before_extend_message(
    spec_dir: Path, identities: dict[str, Signer], code: str
) -> None:
    unsigned = etree.fromstring(_declared(spec_dir, code))
    extend = etree.SubElement(unsigned, "{http://www.chinaport.gov.cn/ceb}ExtendMessage")
    etree.SubElement(extend, "{http://www.chinaport.gov.cn/ceb}name").text = "cbec"
    etree.SubElement(extend, "{http://www.chinaport.gov.cn/ceb}version").text = "1.0"
    message = etree.SubElement(extend, "{http://www.chinaport.gov.cn/ceb}Message")
    etree.SubElement(message, "note").text = "extra"  # ceb:XMLElement: any one element
    spec = message_spec(f"{code}Message")
    before = etree.tostring(unsigned, xml_declaration=True, encoding="UTF-8")
    assert validate_bytes(before, spec.family) == []
    signed = sign_message(before, identities["sm2-sm3"])
    assert validate_bytes(signed, spec.family) == []
    names = [etree.QName(child).localname for child in etree.fromstring(signed)]
    assert names.index("Signature") == names.index("ExtendMessage") - 1
    assert verify_message(signed, identities["sm2-sm3"].certificate, at=NOW).ok
