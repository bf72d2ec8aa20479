"""Enveloped XML-DSig over CEB messages: sign what the platform emits, check what it receives.

The spec (S1 §6) signs the whole message with one ``Reference URI=""``, the enveloped-signature transform and
inclusive C14N 1.0; the digest is taken over the message without its Signature element.  Three algorithms:

- ``sm2-sm3`` — the 2022 national algorithm the spec prefers: SignatureMethod
  ``http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3``, DigestMethod ``…/2022/04/xmldsig#sm3``; the
  SignatureValue is the Base64 of the DER ``SEQUENCE { r, s }`` (see :mod:`cbec.messages.sm2` for why);
- ``rsa-sha1`` — the 2018 edition's algorithm, still accepted;
- ``rsa-sha256`` — not in the spec, kept for senders and tests that use it.

Keys and certificates come from the enterprise; ``make_test_identity`` / ``make_sm2_test_identity`` create
self-signed ones for demos and tests — never for production.  :func:`verify_message` is what the service
calls: bytes and the sender's registered certificate in, a :class:`Verdict` with the spec's codes out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from cbec.messages import sm2
from cbec.messages.envelope import is_envelope, unwrap
from cbec.messages.safe_xml import XmlRejected, parse_untrusted
from cbec.messages.signature_verdict import Refusal, Verdict
from cbec.messages.spec import DS_NS, catalogue

__all__ = [
    "ALGORITHMS",
    "C14N",
    "ENVELOPED",
    "SIGNATURE_METHODS",
    "SM2_SM3",
    "SM3_DIGEST",
    "Refusal",
    "Signer",
    "SigningIdentity",
    "Sm2Identity",
    "Verdict",
    "Verification",
    "load_certificate",
    "load_identity",
    "make_sm2_test_identity",
    "make_test_identity",
    "requires_signature",
    "sign",
    "sign_message",
    "verify",
    "verify_message",
]

C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_WITH_COMMENTS = C14N + "#WithComments"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"
SM3_DIGEST = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
SM2_SM3 = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
# the RSA algorithms by name -> (SignatureMethod, DigestMethod); SIGNATURE_METHODS adds SM2-SM3
ALGORITHMS = {
    "rsa-sha1": ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", SHA1_DIGEST),
    "rsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", SHA256_DIGEST),
}
SIGNATURE_METHODS = {"sm2-sm3": (SM2_SM3, SM3_DIGEST), **ALGORITHMS}
_METHOD_NAMES = {uri: name for name, (uri, _digest) in SIGNATURE_METHODS.items()}
_DISPLAY = {"sm2-sm3": "SM2-SM3", "rsa-sha1": "RSA-SHA1", "rsa-sha256": "RSA-SHA256"}
_RSA_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "rsa-sha1": hashes.SHA1,
    "rsa-sha256": hashes.SHA256,
}
# DigestMethod -> hash; any digest is accepted with any method (a reader tolerates what senders combine)
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    SHA1_DIGEST: lambda data: hashlib.sha1(data).digest(),
    SHA256_DIGEST: lambda data: hashlib.sha256(data).digest(),
    SM3_DIGEST: sm2.sm3,
}
# Beijing time: what a naive ``at`` means, as every time in a CEB message is Beijing time
_CST = timezone(timedelta(hours=8))
_DER = serialization.Encoding.DER


# --- identities ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningIdentity:
    """An RSA private key with its certificate, and the key name (card/certificate id) customs knows it by."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    key_name: str

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


@dataclass(frozen=True)
class Sm2Identity:
    """An SM2 private key with its certificate and key name: the 2022 algorithm's counterpart of the above."""

    key: sm2.Sm2PrivateKey
    certificate: x509.Certificate
    key_name: str

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


Signer = SigningIdentity | Sm2Identity


def _validity(not_before: datetime | None, not_after: datetime | None) -> tuple[datetime, datetime]:
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    return start, not_after or start + timedelta(days=366)


def make_test_identity(
    common_name: str = "cbec test signer",
    key_name: str = "0001",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    subject: x509.Name | None = None,
) -> SigningIdentity:
    """A throw-away RSA-2048 key and self-signed certificate (tests, demos, the traffic generator)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _validity(not_before, not_after)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key=key, certificate=cert, key_name=key_name)


def make_sm2_test_identity(
    common_name: str = "cbec SM2 test signer",
    key_name: str = "0001",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    subject: x509.Name | None = None,
) -> Sm2Identity:
    """A throw-away SM2 key and self-signed SM2-with-SM3 certificate — never for production."""
    key = sm2.Sm2PrivateKey.generate()
    name = subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _validity(not_before, not_after)
    cert = sm2.make_self_signed_certificate(key, name, not_before=start, not_after=end)
    return Sm2Identity(key=key, certificate=cert, key_name=key_name)


def load_certificate(data: x509.Certificate | bytes | str) -> x509.Certificate:
    """A certificate given as an object, PEM (bytes or text) or DER — what a registry may have stored."""
    if isinstance(data, x509.Certificate):
        return data
    raw = data.encode("ascii") if isinstance(data, str) else data
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        # bare Base64 of the DER, as ds:X509Certificate and many registries hold it
        return x509.load_der_x509_certificate(base64.b64decode(b"".join(raw.split()), validate=True))


def load_identity(key_pem: bytes, certificate: bytes, key_name: str, password: bytes | None = None) -> Signer:
    """The signer for a PEM private key (RSA or SM2) and its certificate; refuses a key not the cert's."""
    cert = load_certificate(certificate)
    if sm2.is_sm2_certificate(cert):
        try:
            sm2_key = sm2.Sm2PrivateKey.from_pem(key_pem, password)
        except sm2.Sm2KeyError as exc:
            raise ValueError(f"the certificate is an SM2 certificate; the private key: {exc}") from None
        if sm2_key.public_key() != sm2.public_key_of(cert):
            raise ValueError("the private key does not belong to the certificate")
        return Sm2Identity(key=sm2_key, certificate=cert, key_name=key_name)
    key = serialization.load_pem_private_key(key_pem, password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("only RSA and SM2 keys can sign CEB messages")
    public = cert.public_key()
    mine = key.public_key().public_numbers()
    if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != mine:
        raise ValueError("the private key does not belong to the certificate")
    return SigningIdentity(key=key, certificate=cert, key_name=key_name)


# --- signing ------------------------------------------------------------------------------------------------


def _ds(tag: str) -> str:
    return f"{{{DS_NS}}}{tag}"


def _c14n(el: etree._Element, *, with_comments: bool = False) -> bytes:
    return bytes(etree.tostring(el, method="c14n", exclusive=False, with_comments=with_comments))


def _default_algorithm(identity: Signer) -> str:
    return "sm2-sm3" if isinstance(identity, Sm2Identity) else "rsa-sha1"


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _insert_signature(root: etree._Element, signature: etree._Element) -> None:
    """Put the Signature where the XSD wants it: last in import messages, before ExtendMessage in export."""
    spec = catalogue().get(_local(root.tag))
    after: set[str] = set()
    if spec is not None:
        names = [slot.element for slot in spec.children]
        if "Signature" in names:
            after = set(names[names.index("Signature") + 1 :])
    for index, child in enumerate(root):
        if _local(child.tag) in after:
            root.insert(index, signature)
            return
    root.append(signature)


def sign(root: etree._Element, identity: Signer, algorithm: str | None = None) -> etree._Element:
    """Add an enveloped signature to ``root`` (in place) and return the Signature element.

    ``algorithm`` defaults to the key's: ``sm2-sm3`` for an SM2 identity, ``rsa-sha1`` for an RSA one.
    """
    algorithm = algorithm or _default_algorithm(identity)
    if algorithm not in SIGNATURE_METHODS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(SIGNATURE_METHODS)}")
    if (algorithm == "sm2-sm3") != isinstance(identity, Sm2Identity):
        raise ValueError(f"algorithm {algorithm} does not fit a {type(identity.key).__name__} key")
    sig_uri, digest_uri = SIGNATURE_METHODS[algorithm]
    digest = base64.b64encode(_DIGESTS[digest_uri](_c14n(root))).decode("ascii")
    signature = etree.Element(_ds("Signature"), nsmap={"ds": DS_NS})
    _insert_signature(root, signature)
    info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(info, _ds("CanonicalizationMethod"), Algorithm=C14N)
    etree.SubElement(info, _ds("SignatureMethod"), Algorithm=sig_uri)
    ref = etree.SubElement(info, _ds("Reference"), URI="")
    transforms = etree.SubElement(ref, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(ref, _ds("DigestMethod"), Algorithm=digest_uri)
    etree.SubElement(ref, _ds("DigestValue")).text = digest
    # SignedInfo is canonicalised in place: the namespaces in scope (ceb, xsi) are part of what is signed
    if isinstance(identity, Sm2Identity):
        value = identity.key.sign(_c14n(info))
    else:
        value = identity.key.sign(_c14n(info), padding.PKCS1v15(), _RSA_HASHES[algorithm]())
    etree.SubElement(signature, _ds("SignatureValue")).text = base64.b64encode(value).decode("ascii")
    key_info = etree.SubElement(signature, _ds("KeyInfo"))
    etree.SubElement(key_info, _ds("KeyName")).text = identity.key_name
    x509_data = etree.SubElement(key_info, _ds("X509Data"))
    etree.SubElement(x509_data, _ds("X509Certificate")).text = identity.certificate_b64
    return signature


def sign_message(xml: bytes, identity: Signer, algorithm: str | None = None) -> bytes:
    """The message with a fresh enveloped signature (any old one replaced), as UTF-8 bytes.

    Raises :class:`cbec.messages.safe_xml.XmlRejected` for input that is not XML and ``ValueError`` for a
    DxpMsg envelope: the business message is signed first, then wrapped.
    """
    root = parse_untrusted(xml).root
    if is_envelope(root):
        raise ValueError("sign the business message, then wrap it in the DxpMsg envelope")
    for old in root.findall(_ds("Signature")):
        root.remove(old)
    sign(root, identity, algorithm)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# --- which messages must be signed --------------------------------------------------------------------------

# Signature required when declared (appStatus 2): the spec's tables mark ds:Signature 是 for these export
# messages, and CEB507 says "填写 2 时需要业务加签申报"; the export XSD leaves the element
# optional, which is why they are not in the catalogue's ``signature_required`` (taken from the XSD).
_WHEN_DECLARED = frozenset({"507", "509", "603", "605", "607", "701"})
_CODE = re.compile(r"(\d{3})")


def requires_signature(
    message_type: str, heads: Mapping[str, object] | Iterable[Mapping[str, object]] = ()
) -> bool:
    """Whether a message must carry ds:Signature.

    Always for the import list, cancellation, return and warehouse-entry messages (CEB621/623/625/711: the
    import XSD makes the element mandatory and the spec says appStatus 2 needs it); for the export list,
    cancellation, waybill, departure, arrival and summary messages (CEB603/605/607/509/507/701) when a
    document in it is declared (``appStatus`` 2).  ``message_type``: ``CEB621Message``, ``CEB621`` or ``621``;
    ``heads``: the document heads (or one head), of which only ``appStatus`` is read.
    """
    found = _CODE.search(message_type)
    if found is None:
        return False
    code = found.group(1)
    spec = catalogue().get(f"CEB{code}Message")
    if spec is not None and spec.signature_required:
        return True
    if code not in _WHEN_DECLARED:
        return False
    rows: Iterable[Mapping[str, object]] = [heads] if isinstance(heads, Mapping) else heads
    return any(str(row.get("appStatus") or "").strip() == "2" for row in rows)


# --- reading and checking a signature -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Signature:
    """The parts of a ds:Signature that verification needs, already decoded."""

    element: etree._Element
    algorithm: str  # sm2-sm3, rsa-sha1, rsa-sha256
    with_comments: bool
    digest_uri: str
    digest_value: bytes
    signature_value: bytes
    key_name: str | None
    certificate: bytes | None  # DER of ds:X509Certificate, when the sender embedded it


class _Bad(Exception):
    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        super().__init__(detail)
        self.refusal = refusal
        self.detail = detail


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(Refusal.MALFORMED, f"{what} is not Base64") from None


def _read(sig: etree._Element) -> _Signature:
    info = sig.find(_ds("SignedInfo"))
    if info is None:
        raise _Bad(Refusal.MALFORMED, "no SignedInfo")
    c14n_method = info.find(_ds("CanonicalizationMethod"))
    method = info.find(_ds("SignatureMethod"))
    refs = info.findall(_ds("Reference"))
    if c14n_method is None or method is None or len(refs) != 1:
        raise _Bad(Refusal.MALFORMED, "SignedInfo needs a CanonicalizationMethod, SignatureMethod, Reference")
    c14n_uri = c14n_method.get("Algorithm", "")
    if c14n_uri not in (C14N, C14N_WITH_COMMENTS):
        raise _Bad(Refusal.UNSUPPORTED_ALGORITHM, f"CanonicalizationMethod {c14n_uri}")
    algorithm = _METHOD_NAMES.get(method.get("Algorithm", ""))
    if algorithm is None:
        raise _Bad(Refusal.UNSUPPORTED_ALGORITHM, f"SignatureMethod {method.get('Algorithm')}")
    ref = refs[0]
    if ref.get("URI") != "":
        raise _Bad(Refusal.MALFORMED, 'the Reference must sign the whole message (URI="")')
    transforms = [t.get("Algorithm") for t in ref.iterfind(f"{_ds('Transforms')}/{_ds('Transform')}")]
    if ENVELOPED not in transforms or not set(transforms) <= {ENVELOPED, C14N}:
        raise _Bad(Refusal.UNSUPPORTED_ALGORITHM, f"Transforms {transforms}")
    digest_method = ref.find(_ds("DigestMethod"))
    digest_uri = "" if digest_method is None else digest_method.get("Algorithm", "")
    if digest_uri not in _DIGESTS:
        raise _Bad(Refusal.UNSUPPORTED_ALGORITHM, f"DigestMethod {digest_uri or '(none)'}")
    digest_value = _b64(ref.findtext(_ds("DigestValue")), "DigestValue")
    signature_value = _b64(sig.findtext(_ds("SignatureValue")), "SignatureValue")
    if not digest_value or not signature_value:
        raise _Bad(Refusal.MALFORMED, "empty DigestValue or SignatureValue")
    key_name = (sig.findtext(f"{_ds('KeyInfo')}/{_ds('KeyName')}") or "").strip() or None
    cert_text = sig.findtext(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
    certificate = _b64(cert_text, "X509Certificate") if cert_text and cert_text.strip() else None
    return _Signature(
        element=sig,
        algorithm=algorithm,
        with_comments=c14n_uri == C14N_WITH_COMMENTS,
        digest_uri=digest_uri,
        digest_value=digest_value,
        signature_value=signature_value,
        key_name=key_name,
        certificate=certificate,
    )


def _digest_ok(root: etree._Element, sig: _Signature) -> bool:
    """The enveloped-signature transform: the digest of the message without its Signature element."""
    parent = sig.element.getparent()
    assert parent is not None
    position = parent.index(sig.element)
    tail = sig.element.tail
    parent.remove(sig.element)  # lxml moves the tail text with the element: put it back for the digest
    previous = parent[position - 1] if position > 0 else None
    if previous is not None:
        saved, previous.tail = previous.tail, (previous.tail or "") + (tail or "")
    else:
        saved, parent.text = parent.text, (parent.text or "") + (tail or "")
    try:
        actual = _DIGESTS[sig.digest_uri](_c14n(root))
    finally:
        if previous is not None:
            previous.tail = saved
        else:
            parent.text = saved
        parent.insert(position, sig.element)
        sig.element.tail = tail
    return actual == sig.digest_value


def _value_ok(sig: _Signature, certificate: x509.Certificate) -> bool:
    """Whether the SignatureValue is the certificate key's signature of the canonical SignedInfo."""
    info = sig.element.find(_ds("SignedInfo"))
    assert info is not None
    data = _c14n(info, with_comments=sig.with_comments)
    if sig.algorithm == "sm2-sm3":
        if not sm2.is_sm2_certificate(certificate):
            raise _Bad(Refusal.KEY_ALGORITHM_MISMATCH, "SM2-SM3 needs a certificate with an SM2 key")
        return sm2.public_key_of(certificate).verify(sig.signature_value, data)
    if sm2.is_sm2_certificate(certificate):
        raise _Bad(Refusal.KEY_ALGORITHM_MISMATCH, f"{_DISPLAY[sig.algorithm]} needs an RSA certificate")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _Bad(Refusal.KEY_ALGORITHM_MISMATCH, f"{_DISPLAY[sig.algorithm]} needs an RSA certificate")
    try:
        public_key.verify(sig.signature_value, data, padding.PKCS1v15(), _RSA_HASHES[sig.algorithm]())
    except InvalidSignature:
        return False
    return True


def _signature_of(root: etree._Element) -> etree._Element | None:
    found = root.findall(_ds("Signature"))
    if len(found) > 1:
        raise _Bad(Refusal.MALFORMED, "more than one ds:Signature")
    return found[0] if found else None


# --- the service's check -----------------------------------------------------------------------------------


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=_CST)


def _serial(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "X")


def verify_message(
    xml: bytes | etree._Element,
    certificate: x509.Certificate | bytes | str | None,
    *,
    at: datetime,
    key_name: str | None = None,
) -> Verdict:
    """Check a received message's signature against the sender's registered certificate, as of ``at``.

    ``xml``: the business message (a DxpMsg envelope is opened and its business message checked), as bytes
    or a parsed tree; ``certificate``: the sender's registered certificate (object, PEM or DER), ``None`` when
    it has none; ``key_name``: the registered key name (card/certificate id), checked against ds:KeyName when
    given; ``at``: when the message arrived (a naive time is Beijing time).  An unsigned message is accepted
    only where :func:`requires_signature` says it need not be signed.
    """
    try:
        root = parse_untrusted(xml).root if isinstance(xml, bytes) else xml
        if is_envelope(root):
            _env, data, problems = unwrap(root)
            if data is None:
                detail = problems[0].message_en if problems else ""
                return Verdict.refused(Refusal.NOT_XML, detail, signed=False)
            root = parse_untrusted(data).root
    except XmlRejected as exc:
        return Verdict.refused(Refusal.NOT_XML, exc.findings[0].message_en, signed=False)
    heads = [{"appStatus": el.text} for el in root.iter("{*}appStatus")]
    required = requires_signature(_local(root.tag), heads)
    algorithm: str | None = None
    found_name: str | None = None
    try:
        element = _signature_of(root)
        if element is None:
            if required:
                return Verdict.refused(Refusal.MISSING, signed=False, required=True)
            return Verdict.accepted(algorithm=None, key_name=None, signed=False, required=False)
        sig = _read(element)
        algorithm, found_name = sig.algorithm, sig.key_name
        if certificate is None:
            raise _Bad(Refusal.NO_CERTIFICATE)
        registered = load_certificate(certificate)
        if sig.certificate is not None and sig.certificate != registered.public_bytes(_DER):
            try:
                embedded = f"serial {_serial(x509.load_der_x509_certificate(sig.certificate))}"
            except ValueError:
                embedded = "an unreadable certificate"
            raise _Bad(Refusal.CERTIFICATE_MISMATCH, f"{embedded}, registered serial {_serial(registered)}")
        if key_name is not None and sig.key_name is not None and sig.key_name != key_name:
            raise _Bad(Refusal.KEY_NAME_MISMATCH, f"{sig.key_name!r} ≠ {key_name!r}")
        moment = _aware(at)
        if moment < registered.not_valid_before_utc:
            raise _Bad(Refusal.NOT_YET_VALID, registered.not_valid_before_utc.isoformat())
        if moment > registered.not_valid_after_utc:
            raise _Bad(Refusal.EXPIRED, registered.not_valid_after_utc.isoformat())
        if not _digest_ok(root, sig):
            raise _Bad(Refusal.DIGEST_MISMATCH)
        if not _value_ok(sig, registered):
            raise _Bad(Refusal.BAD_SIGNATURE)
    except _Bad as bad:
        return Verdict.refused(
            bad.refusal, bad.detail, algorithm=algorithm, key_name=found_name, required=required
        )
    return Verdict.accepted(algorithm=algorithm, key_name=found_name, signed=True, required=required)


# --- the older, lower-level check (no registry, no clock) ---------------------------------------------------


@dataclass(frozen=True)
class Verification:
    valid: bool
    reason: str  # "ok", or why not: no signature, unsupported algorithm, digest mismatch, bad signature …
    certificate: x509.Certificate | None = None


def verify(root: etree._Element, certificate: x509.Certificate | None = None) -> Verification:
    """Check the enveloped signature of a parsed message against ``certificate`` (or the embedded one).

    No certificate validity and no registry here: that is :func:`verify_message`.  Kept for callers that
    only want to know whether the bytes are intact and signed by the key in hand.
    """
    try:
        element = _signature_of(root)
        if element is None:
            return Verification(False, "no signature")
        sig = _read(element)
    except _Bad as bad:
        return Verification(False, f"{bad.refusal.value.replace('_', ' ')}: {bad.detail}")
    name = _DISPLAY[sig.algorithm]
    if certificate is None:
        if sig.certificate is None:
            return Verification(False, "no certificate")
        try:
            certificate = x509.load_der_x509_certificate(sig.certificate)
        except ValueError:
            return Verification(False, "the embedded certificate cannot be read")
    if not _digest_ok(root, sig):
        return Verification(
            False, f"{name} signature: digest mismatch: the message was changed after signing", certificate
        )
    try:
        valid = _value_ok(sig, certificate)
    except _Bad as bad:
        return Verification(False, f"{name} signature: {bad.detail}", certificate)
    if not valid:
        return Verification(False, f"{name} signature: value does not match the certificate", certificate)
    return Verification(True, "ok", certificate)
