"""SM2 signatures over SM3 (GM/T 0003, GM/T 0009) and X.509 certificates whose key is on the SM2 curve.

Why a module of its own: the 2022 edition of the CEB specification prefers the national algorithm
(``…/2022/04/xmldsig#sm2-sm3``), and neither ``cryptography`` nor lxml knows SM2.  Everything SM2 goes through
here, so :mod:`cbec.messages.signature` only sees "sign these bytes" and "do these bytes verify".

The elliptic-curve work is done by ``tongsuopy`` (Python binding of Tongsuo, the OpenAtom fork of OpenSSL with
the Chinese algorithms; the binding links Tongsuo statically, so nothing is needed from the system).  It signs
``SM3(Z ‖ M)`` where Z is the GM/T 0009 user hash computed with the default user ID ``1234567812345678``; the
CEB specification names no other ID, so that is the one customs' crypto devices use too.  The pure-Python
packages (``gmssl``, ``gmalg``) give the same results but take 30–70 ms a signature, which the platform cannot
afford on every declared list; ``tongsuopy`` takes well under a millisecond.

Signature encoding: GM/T 0009-2012 defines the SM2 signature as the DER of
``SEQUENCE { r INTEGER, s INTEGER }``, the form GM/T 0010 (PKCS#7) containers and BouncyCastle's
``SM3withSM2`` produce.  The CEB specification (S1 §6.2.2) shows only an RSA example and names no encoding, so
this module writes DER and, tolerant reader, also accepts the bare 64-byte ``r ‖ s`` of some libraries.

Certificates: ``cryptography`` loads an SM2 certificate (subject, serial, validity all work) but cannot hand
out its public key; :func:`public_key_of` reads the SubjectPublicKeyInfo with ``asn1crypto`` instead.
:func:`make_self_signed_certificate` exists for tests and demos only — a real enterprise's certificate is
issued to its crypto device by the data centre (数据分中心), never made by this code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from asn1crypto import algos as asn1_algos
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_serialization
from tongsuopy.crypto.asymciphers import ec as ts_ec
from tongsuopy.crypto.exceptions import InvalidSignature as TsInvalidSignature
from tongsuopy.crypto.exceptions import UnsupportedAlgorithm as TsUnsupported

__all__ = [
    "DEFAULT_USER_ID",
    "SM2_CURVE_OID",
    "SM2_WITH_SM3_OID",
    "Sm2KeyError",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "certificate_signed_by",
    "der_to_raw",
    "is_sm2_certificate",
    "make_self_signed_certificate",
    "public_key_of",
    "raw_to_der",
    "sm3",
]

SM2_CURVE_OID: Final = "1.2.156.10197.1.301"  # sm2p256v1, the curve named in the certificate's SPKI
SM2_WITH_SM3_OID: Final = "1.2.156.10197.1.501"  # SM2-with-SM3, the certificate signature algorithm
DEFAULT_USER_ID: Final = b"1234567812345678"  # GM/T 0009 default ID, used in Z; fixed by the library
_ORDER: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SCHEME: Final[Any] = ts_ec.ECDSA(ts_hashes.SM3())  # Tongsuo: SM2 keys sign SM3(Z ‖ M) under this scheme


class Sm2KeyError(ValueError):
    """Key or certificate material that is not an SM2 key (or not readable at all)."""


def sm3(data: bytes) -> bytes:
    """The SM3 hash (GM/T 0004), from ``cryptography``: the digest the 2022 XML signatures use."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def raw_to_der(raw: bytes) -> bytes:
    """``r ‖ s`` (32 + 32 bytes) to the DER ``SEQUENCE { r, s }`` of GM/T 0009."""
    if len(raw) != 64:
        raise ValueError(f"a bare SM2 signature is 64 bytes, got {len(raw)}")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def der_to_raw(der: bytes) -> bytes:
    """The DER ``SEQUENCE { r, s }`` to bare ``r ‖ s``, for peers that want 64 bytes."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _as_der(signature: bytes) -> bytes | None:
    """The signature as canonical DER, whichever of the two encodings it came in; None if neither."""
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        r = s = -1
    else:
        # strict DER only: a re-encoding must give the same bytes, else it was not DER (or padded)
        if encode_dss_signature(r, s) != signature:
            r = s = -1
    if r < 0 and len(signature) == 64:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _ORDER and 0 < s < _ORDER):
        return None
    return encode_dss_signature(r, s)


@dataclass(frozen=True, eq=False)
class Sm2PublicKey:
    """An SM2 public key; verifies signatures made by the matching private key with the default user ID."""

    _key: Any

    @classmethod
    def from_spki(cls, der: bytes) -> Sm2PublicKey:
        try:
            key = ts_serialization.load_der_public_key(der)
        except (ValueError, TypeError, TsUnsupported) as exc:
            raise Sm2KeyError(f"not a readable public key: {exc}") from exc
        return cls._checked(key)

    @classmethod
    def from_pem(cls, data: bytes) -> Sm2PublicKey:
        try:
            key = ts_serialization.load_pem_public_key(data)
        except (ValueError, TypeError, TsUnsupported) as exc:
            raise Sm2KeyError(f"not a readable public key: {exc}") from exc
        return cls._checked(key)

    @classmethod
    def _checked(cls, key: Any) -> Sm2PublicKey:
        if getattr(getattr(key, "curve", None), "name", None) != "SM2":
            raise Sm2KeyError("the public key is not on the SM2 curve")
        return cls(key)

    def spki(self) -> bytes:
        """DER SubjectPublicKeyInfo (id-ecPublicKey with the sm2p256v1 curve), as a certificate carries it."""
        return bytes(
            self._key.public_bytes(
                ts_serialization.Encoding.DER, ts_serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def point(self) -> bytes:
        """The uncompressed point ``04 ‖ x ‖ y`` (65 bytes), the form SM2 tools exchange keys in."""
        numbers = self._key.public_numbers()
        return b"\x04" + int(numbers.x).to_bytes(32, "big") + int(numbers.y).to_bytes(32, "big")

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` (DER or bare ``r ‖ s``) is this key's SM2 signature of ``data``."""
        der = _as_der(signature)
        if der is None:
            return False
        try:
            self._key.verify(der, data, _SCHEME)
        except (TsInvalidSignature, InvalidSignature, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and self.point() == other.point()

    def __hash__(self) -> int:
        return hash(self.point())


@dataclass(frozen=True, eq=False)
class Sm2PrivateKey:
    """An SM2 private key held in software — for tests, demos and enterprises without a crypto device."""

    _key: Any

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        return cls(ts_ec.generate_private_key(ts_ec.SM2()))

    @classmethod
    def from_secret(cls, secret: int) -> Sm2PrivateKey:
        """The key with the given private scalar d (known-answer tests use the standard's d)."""
        return cls(ts_ec.derive_private_key(secret, ts_ec.SM2()))

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> Sm2PrivateKey:
        """A PKCS#8 PEM (``BEGIN PRIVATE KEY``, what OpenSSL 3 and ``cbec keygen`` write) on the SM2 curve."""
        try:
            key = ts_serialization.load_pem_private_key(data, password)
        except (ValueError, TypeError, TsUnsupported) as exc:
            raise Sm2KeyError(f"not a readable private key: {exc}") from exc
        if getattr(getattr(key, "curve", None), "name", None) != "SM2":
            raise Sm2KeyError("the private key is not on the SM2 curve")
        return cls(key)

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM: protect the file (chmod 600) like any software key."""
        return bytes(
            self._key.private_bytes(
                ts_serialization.Encoding.PEM,
                ts_serialization.PrivateFormat.PKCS8,
                ts_serialization.NoEncryption(),
            )
        )

    def public_key(self) -> Sm2PublicKey:
        return Sm2PublicKey(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        """The SM2 signature of ``data`` (SM3 with Z over the default user ID), DER-encoded."""
        return bytes(self._key.sign(data, _SCHEME))


# a sender's certificate is checked on every message it sends: read its key once, not per message
@lru_cache(maxsize=1024)
def is_sm2_certificate(certificate: x509.Certificate) -> bool:
    """Whether the certificate's key is on the SM2 curve (what decides RSA or SM2 verification)."""
    algorithm = _spki(certificate)["algorithm"]
    if algorithm["algorithm"].native != "ec":
        return False
    parameters = algorithm["parameters"]
    return bool(parameters.name == "named" and parameters.chosen.dotted == SM2_CURVE_OID)


def _spki(certificate: x509.Certificate) -> asn1_keys.PublicKeyInfo:
    der = certificate.public_bytes(serialization.Encoding.DER)
    tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
    info: asn1_keys.PublicKeyInfo = tbs["subject_public_key_info"]
    return info


@lru_cache(maxsize=1024)
def public_key_of(certificate: x509.Certificate) -> Sm2PublicKey:
    """The SM2 public key in a certificate (which ``cryptography`` itself refuses to hand out)."""
    if not is_sm2_certificate(certificate):
        raise Sm2KeyError("the certificate's key is not an SM2 key")
    return Sm2PublicKey.from_spki(_spki(certificate).dump())


def certificate_signed_by(certificate: x509.Certificate, issuer: Sm2PublicKey) -> bool:
    """Whether ``issuer`` made the certificate's SM2-with-SM3 signature (a self-signed one: its own key)."""
    if certificate.signature_algorithm_oid.dotted_string != SM2_WITH_SM3_OID:
        return False
    return issuer.verify(certificate.signature, certificate.tbs_certificate_bytes)


def make_self_signed_certificate(
    key: Sm2PrivateKey,
    subject: x509.Name,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    serial_number: int | None = None,
) -> x509.Certificate:
    """A self-signed X.509 v3 certificate for an SM2 key — for tests and demos, never for production.

    ``cryptography``'s builder cannot sign with SM2, so the TBSCertificate is assembled with ``asn1crypto``
    and signed here; the result loads back as an ordinary :class:`cryptography.x509.Certificate`.
    """
    now = datetime.now(UTC)
    start = not_before or now - timedelta(days=1)
    end = not_after or start + timedelta(days=366)
    if end <= start:
        raise ValueError("not_after must be later than not_before")
    algorithm = asn1_algos.SignedDigestAlgorithm({"algorithm": SM2_WITH_SM3_OID})
    name = asn1_x509.Name.load(subject.public_bytes())
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial_number or x509.random_serial_number(),
            "signature": algorithm,
            "issuer": name,
            "validity": {"not_before": _time(start), "not_after": _time(end)},
            "subject": name,
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(key.public_key().spki()),
            "extensions": [
                {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "non_repudiation"},
                },
            ],
        }
    )
    certificate = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": key.sign(tbs.dump())}
    )
    return x509.load_der_x509_certificate(certificate.dump())


def _time(moment: datetime) -> asn1_x509.Time:
    """UTCTime until 2049, GeneralizedTime after, as RFC 5280 asks; whole seconds only."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    return asn1_x509.Time({"utc_time" if moment.year < 2050 else "general_time": moment})
