"""Enveloped XML-DSig over CEB messages: sign what the platform emits, check what it receives.

The spec (S1 §6) signs the whole message with one ``Reference URI=""``, the enveloped-signature transform and
inclusive C14N 1.0; the digest is taken over the message without its Signature element.  This module does
RSA-SHA1 (the 2018 edition's algorithm, still accepted) and RSA-SHA256; the 2022 national SM2/SM3 algorithm
plugs in here too (service issue).  Keys and certificates come from the enterprise; ``make_test_identity``
creates a self-signed one for demos and tests — never for production.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from cbec.messages.spec import DS_NS

C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ALGORITHMS = {
    "rsa-sha1": ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1"),
    "rsa-sha256": (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    ),
}
SM2_SM3 = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
_HASHES = {
    "http://www.w3.org/2000/09/xmldsig#sha1": (hashlib.sha1, hashes.SHA1),
    "http://www.w3.org/2001/04/xmlenc#sha256": (hashlib.sha256, hashes.SHA256),
}


@dataclass(frozen=True)
class SigningIdentity:
    """A private key with its certificate, and the key name (card/certificate id) customs knows it by."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    key_name: str

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def make_test_identity(common_name: str = "cbec test signer", key_name: str = "0001") -> SigningIdentity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key=key, certificate=cert, key_name=key_name)


def _ds(tag: str) -> str:
    return f"{{{DS_NS}}}{tag}"


def _c14n(el: etree._Element) -> bytes:
    return bytes(etree.tostring(el, method="c14n", exclusive=False, with_comments=False))


def sign(root: etree._Element, identity: SigningIdentity, algorithm: str = "rsa-sha1") -> etree._Element:
    """Append an enveloped signature to ``root`` (in place) and return the Signature element."""
    sig_uri, digest_uri = ALGORITHMS[algorithm]
    hash_fn, crypto_hash = _HASHES[digest_uri]
    digest = base64.b64encode(hash_fn(_c14n(root)).digest()).decode("ascii")
    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DS_NS})
    info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(info, _ds("CanonicalizationMethod"), Algorithm=C14N)
    etree.SubElement(info, _ds("SignatureMethod"), Algorithm=sig_uri)
    ref = etree.SubElement(info, _ds("Reference"), URI="")
    transforms = etree.SubElement(ref, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(ref, _ds("DigestMethod"), Algorithm=digest_uri)
    etree.SubElement(ref, _ds("DigestValue")).text = digest
    value = identity.key.sign(_c14n(info), padding.PKCS1v15(), crypto_hash())
    etree.SubElement(signature, _ds("SignatureValue")).text = base64.b64encode(value).decode("ascii")
    key_info = etree.SubElement(signature, _ds("KeyInfo"))
    etree.SubElement(key_info, _ds("KeyName")).text = identity.key_name
    x509_data = etree.SubElement(key_info, _ds("X509Data"))
    etree.SubElement(x509_data, _ds("X509Certificate")).text = identity.certificate_b64
    return signature


@dataclass(frozen=True)
class Verification:
    valid: bool
    reason: str  # "ok", or why not: no signature, unsupported algorithm, digest mismatch, bad signature …
    certificate: x509.Certificate | None = None


def verify(root: etree._Element, certificate: x509.Certificate | None = None) -> Verification:
    """Check the enveloped signature of a parsed message against ``certificate`` (or the embedded one)."""
    sig = root.find(_ds("Signature"))
    if sig is None:
        return Verification(False, "no signature")
    method = sig.find(f"{_ds('SignedInfo')}/{_ds('SignatureMethod')}")
    digest_method = sig.find(f"{_ds('SignedInfo')}/{_ds('Reference')}/{_ds('DigestMethod')}")
    digest_value = sig.findtext(f"{_ds('SignedInfo')}/{_ds('Reference')}/{_ds('DigestValue')}")
    sig_value = sig.findtext(_ds("SignatureValue"))
    if method is None or digest_method is None or not digest_value or not sig_value:
        return Verification(False, "incomplete signature")
    if method.get("Algorithm") == SM2_SM3:
        return Verification(False, "SM2/SM3 verification is not available in this build")
    hashes_for = _HASHES.get(digest_method.get("Algorithm", ""))
    if hashes_for is None or method.get("Algorithm") not in {a for a, _ in ALGORITHMS.values()}:
        return Verification(False, f"unsupported algorithm {method.get('Algorithm')}")
    hash_fn, crypto_hash = hashes_for
    if certificate is None:
        cert_text = sig.findtext(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
        if not cert_text:
            return Verification(False, "no certificate")
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(cert_text.split())))
    # digest of the message without its signature
    parent = sig.getparent()
    assert parent is not None
    position = parent.index(sig)
    parent.remove(sig)
    try:
        actual = base64.b64encode(hash_fn(_c14n(root)).digest()).decode("ascii")
    finally:
        parent.insert(position, sig)
    if actual != "".join(digest_value.split()):
        return Verification(False, "digest mismatch: the message was changed after signing", certificate)
    info = sig.find(_ds("SignedInfo"))
    assert info is not None
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return Verification(False, "certificate key is not RSA", certificate)
    try:
        public_key.verify(
            base64.b64decode("".join(sig_value.split())), _c14n(info), padding.PKCS1v15(), crypto_hash()
        )
    except InvalidSignature:
        return Verification(False, "signature value does not match the certificate", certificate)
    return Verification(True, "ok", certificate)
