"""Reading an enterprise's signing certificate: what a signature check later needs to find and trust it.

A CEB signature names its certificate by ``KeyName`` (the e-port card id, e.g. ``0001``) and carries it in
``X509Data``; the 2018 algorithm is RSA-SHA1, the 2022 one SM2/SM3.  We keep, per certificate, its serial
(decimal, as XML-DSig writes ``X509SerialNumber``, and hex), the key algorithm, subject, issuer, validity and
SHA-256 fingerprint, plus the PEM itself.

The ``cryptography`` package reads SM2 certificates' structure but not their keys, so the algorithm is told
from object identifiers: an RSA key, or an EC key on the SM2 curve (GB/T 35276: 1.2.156.10197.1.301), or
the SM2 key OID itself.  Issuer signatures are not verified here (the e-port's CA is not shipped).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import PublicKeyAlgorithmOID

from cbec.rights.identity import FilingError

__all__ = ["CertificateInfo", "KeyAlgorithm", "parse_certificate"]

KeyAlgorithm = Literal["rsa", "sm2"]

#: DER encoding (tag, length, value) of the SM2 curve OID 1.2.156.10197.1.301.
_SM2_CURVE_DER = bytes.fromhex("06082a811ccf5501822d")
_SM2_OID = "1.2.156.10197.1.301"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    serial: str  # decimal, as in XML-DSig X509SerialNumber
    serial_hex: str  # upper-case hex without separators, as certificate tools show it
    algorithm: KeyAlgorithm
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint: str  # SHA-256 of the DER, hex
    pem: str

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after


def _algorithm(cert: x509.Certificate) -> KeyAlgorithm:
    oid = cert.public_key_algorithm_oid
    if oid == PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5:
        return "rsa"
    if oid.dotted_string == _SM2_OID:
        return "sm2"
    if oid == PublicKeyAlgorithmOID.EC_PUBLIC_KEY and _SM2_CURVE_DER in cert.tbs_certificate_bytes:
        return "sm2"
    raise FilingError(
        f"证书公钥算法 {oid.dotted_string} 不受支持（仅 RSA 与 SM2）",
        f"certificate key algorithm {oid.dotted_string} is not supported (RSA or SM2 only)",
    )


def parse_certificate(data: str | bytes) -> CertificateInfo:
    """Read one X.509 certificate given as PEM (or DER bytes); FilingError when it cannot be read."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            cert = x509.load_pem_x509_certificate(raw)
        else:
            cert = x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise FilingError(
            f"无法读取证书（须为 PEM 格式的 X.509 证书）：{exc}",
            f"cannot read the certificate (expected an X.509 certificate in PEM): {exc}",
        ) from None
    der = cert.public_bytes(Encoding.DER)
    return CertificateInfo(
        serial=str(cert.serial_number),
        serial_hex=format(cert.serial_number, "X"),
        algorithm=_algorithm(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=hashlib.sha256(der).hexdigest(),
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
    )
