"""Reading uploaded certificates: RSA and SM2, serials as XML-DSig writes them, refusals of junk."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cbec.rights import FilingError
from cbec.rights.certificates import parse_certificate

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)


def make_certificate(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, serial: int, cn: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def sm2_certificate() -> bytes:
    """An EC certificate whose curve OID is rewritten to SM2's (same length): structurally an SM2 cert.

    ``cryptography`` cannot sign with SM2, and the issuer signature is not checked when a certificate is
    read, so a P-256 certificate with the curve identifier swapped stands in for one.
    """
    pem = make_certificate(ec.generate_private_key(ec.SECP256R1()), 0x1A2B, "SM2 test")
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    p256 = bytes.fromhex("06082a8648ce3d030107")
    assert der.count(p256) == 1
    der = der.replace(p256, bytes.fromhex("06082a811ccf5501822d"))
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()


def test_rsa_certificate() -> None:
    pem = make_certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048), 39207, "测试企业")
    info = parse_certificate(pem.decode())
    assert info.algorithm == "rsa"
    assert (info.serial, info.serial_hex) == ("39207", "9927")
    assert info.subject == "CN=测试企业"
    assert info.not_before == NOT_BEFORE and info.not_after == NOT_BEFORE + timedelta(days=365)
    assert info.valid_at(NOT_BEFORE + timedelta(days=1)) and not info.valid_at(NOT_BEFORE - timedelta(days=1))
    assert len(info.fingerprint) == 64 and info.pem.startswith("-----BEGIN CERTIFICATE-----")
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert parse_certificate(der) == info


def test_sm2_certificate() -> None:
    info = parse_certificate(sm2_certificate())
    assert info.algorithm == "sm2" and info.serial == str(0x1A2B)


def test_other_ec_curves_are_refused() -> None:
    pem = make_certificate(ec.generate_private_key(ec.SECP384R1()), 7, "P-384")
    with pytest.raises(FilingError, match="not supported"):
        parse_certificate(pem)


def test_certificate_of_an_official_sample(load_sample: object) -> None:
    raw = load_sample("CEB621")  # type: ignore[operator]
    m = re.search(rb"X509Certificate>([^<]*)<", raw)
    assert m is not None
    info = parse_certificate(base64.b64decode(m.group(1)))
    assert (info.algorithm, info.serial) == ("rsa", "39207")


BROKEN_PEM = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("junk", [b"", BROKEN_PEM, "hello"])
def test_junk_is_refused(junk: bytes | str) -> None:
    with pytest.raises(FilingError) as exc:
        parse_certificate(junk)
    assert "证书" in exc.value.zh and "certificate" in exc.value.en
