"""SM2/SM3: the GM/T known-answer vectors, round trips, tampering, key and certificate handling, and (where
the system's ``openssl`` knows SM2) signatures exchanged with an independent implementation."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from cbec.messages import sm2
from cbec.messages.signature import make_test_identity

# GM/T 0004-2012 (SM3) appendix A: the two example messages and their hashes
SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
]

# GM/T 0003.5-2012 (GB/T 32918.5-2017) appendix A, signature example on the recommended curve: message
# "message digest", ID_A = 1234567812345678 (the GM/T 0009 default), private key d_A, public key P_A, and the
# signature (r, s) made with the fixed random k = 59276E27…BC21.
STD_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
STD_PX = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
STD_PY = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
STD_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
STD_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
STD_MSG = b"message digest"
ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.fixture(scope="module")
def standard_key() -> sm2.Sm2PrivateKey:
    return sm2.Sm2PrivateKey.from_secret(STD_D)


@pytest.fixture(scope="module")
def key() -> sm2.Sm2PrivateKey:
    return sm2.Sm2PrivateKey.generate()


@pytest.mark.parametrize(("message", "expected"), SM3_VECTORS)
def test_sm3_known_answers(message: bytes, expected: str) -> None:
    assert sm2.sm3(message).hex() == expected


def test_standard_public_key_is_derived_from_the_standard_private_key(
    standard_key: sm2.Sm2PrivateKey,
) -> None:
    assert standard_key.public_key().point() == b"\x04" + _raw(STD_PX, STD_PY)


def test_standard_signature_verifies_with_the_default_user_id(standard_key: sm2.Sm2PrivateKey) -> None:
    public = standard_key.public_key()
    assert public.verify(encode_dss_signature(STD_R, STD_S), STD_MSG)
    assert public.verify(_raw(STD_R, STD_S), STD_MSG), "the bare r‖s form is read too"


@pytest.mark.parametrize(
    ("message", "r", "s"),
    [
        (b"message digesT", STD_R, STD_S),
        (STD_MSG, STD_R ^ 1, STD_S),
        (STD_MSG, STD_R, STD_S ^ (1 << 200)),
        (STD_MSG, STD_S, STD_R),
    ],
    ids=["message", "r", "s", "swapped"],
)
def test_standard_signature_altered_is_refused(
    standard_key: sm2.Sm2PrivateKey, message: bytes, r: int, s: int
) -> None:
    assert not standard_key.public_key().verify(encode_dss_signature(r, s), message)


@pytest.mark.parametrize(("r", "s"), [(0, STD_S), (STD_R, 0), (ORDER, STD_S), (STD_R, ORDER + 5)])
def test_out_of_range_r_or_s_is_refused(standard_key: sm2.Sm2PrivateKey, r: int, s: int) -> None:
    public = standard_key.public_key()
    assert not public.verify(encode_dss_signature(r, s), STD_MSG)


def test_sign_verify_round_trip(key: sm2.Sm2PrivateKey) -> None:
    data = "<ds:SignedInfo>清单 CEB621</ds:SignedInfo>".encode()
    signature = key.sign(data)
    r, s = decode_dss_signature(signature)  # DER SEQUENCE { r, s }, per GM/T 0009
    assert 0 < r < ORDER and 0 < s < ORDER
    assert key.public_key().verify(signature, data)
    assert key.public_key().verify(sm2.der_to_raw(signature), data)
    assert sm2.raw_to_der(sm2.der_to_raw(signature)) == signature
    assert key.sign(data) != signature, "SM2 draws a fresh random k for every signature"


def test_tampered_data_or_signature_or_key_is_refused(key: sm2.Sm2PrivateKey) -> None:
    data = b"<ceb:orderNo>A0001</ceb:orderNo>"
    signature = key.sign(data)
    public = key.public_key()
    assert not public.verify(signature, data.replace(b"A0001", b"A0002"))
    broken = bytearray(signature)
    broken[-1] ^= 0x01
    assert not public.verify(bytes(broken), data)
    assert not public.verify(signature[:-1], data)
    assert not public.verify(b"", data)
    assert not sm2.Sm2PrivateKey.generate().public_key().verify(signature, data)


def test_private_key_pem_round_trip(key: sm2.Sm2PrivateKey) -> None:
    pem = key.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = sm2.Sm2PrivateKey.from_pem(pem)
    assert again.public_key() == key.public_key()
    assert key.public_key().verify(again.sign(b"x"), b"x")


def test_non_sm2_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(sm2.Sm2KeyError):
        sm2.Sm2PrivateKey.from_pem(p256)
    with pytest.raises(sm2.Sm2KeyError):
        sm2.Sm2PrivateKey.from_pem(b"not a key")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cbec 测试"),
        ]
    )


def test_self_signed_certificate(key: sm2.Sm2PrivateKey) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    cert = sm2.make_self_signed_certificate(
        key, _name("申报企业"), not_before=start, not_after=end, serial_number=42
    )
    assert cert.subject == cert.issuer == _name("申报企业")
    assert cert.serial_number == 42
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (start, end)
    assert cert.signature_algorithm_oid.dotted_string == sm2.SM2_WITH_SM3_OID
    assert sm2.is_sm2_certificate(cert)
    assert sm2.public_key_of(cert) == key.public_key()
    assert sm2.certificate_signed_by(cert, key.public_key())
    assert not sm2.certificate_signed_by(cert, sm2.Sm2PrivateKey.generate().public_key())


def test_rsa_certificate_is_not_sm2() -> None:
    cert = make_test_identity().certificate
    assert not sm2.is_sm2_certificate(cert)
    with pytest.raises(sm2.Sm2KeyError):
        sm2.public_key_of(cert)


# --- an independent implementation: the system's OpenSSL 3 --------------------------------------------------


def _openssl() -> str:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("no openssl command on this machine")
    probe = subprocess.run([exe, "list", "-digest-algorithms"], capture_output=True, text=True, check=False)
    if "SM3" not in probe.stdout.upper():
        pytest.skip("this openssl has no SM2/SM3")
    return exe


def _pem_public(key: sm2.Sm2PrivateKey, path: Path) -> Path:
    import base64

    body = base64.encodebytes(key.public_key().spki()).decode("ascii")
    path.write_text(f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n")
    return path


def _pkeyutl(exe: str, *args: str) -> subprocess.CompletedProcess[str]:
    common = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    return subprocess.run([exe, "pkeyutl", *args, *common], capture_output=True, text=True, check=False)


def test_openssl_verifies_our_signature(key: sm2.Sm2PrivateKey, tmp_path: Path) -> None:
    exe = _openssl()
    data = tmp_path / "data"
    data.write_bytes(b"<ds:SignedInfo>cbec</ds:SignedInfo>")
    sig = tmp_path / "sig"
    sig.write_bytes(key.sign(data.read_bytes()))
    pub = _pem_public(key, tmp_path / "pub.pem")
    ok = _pkeyutl(exe, "-verify", "-in", str(data), "-pubin", "-inkey", str(pub), "-sigfile", str(sig))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    data.write_bytes(b"<ds:SignedInfo>cbeC</ds:SignedInfo>")
    bad = _pkeyutl(exe, "-verify", "-in", str(data), "-pubin", "-inkey", str(pub), "-sigfile", str(sig))
    assert bad.returncode != 0


def test_we_verify_openssls_signature(key: sm2.Sm2PrivateKey, tmp_path: Path) -> None:
    exe = _openssl()
    data = tmp_path / "data"
    data.write_bytes("清单 signed by OpenSSL".encode())
    priv = tmp_path / "key.pem"
    priv.write_bytes(key.to_pem())
    sig = tmp_path / "sig"
    done = _pkeyutl(exe, "-sign", "-in", str(data), "-inkey", str(priv), "-out", str(sig))
    assert done.returncode == 0, done.stderr
    assert key.public_key().verify(sig.read_bytes(), data.read_bytes())


def test_openssl_reads_our_certificate(key: sm2.Sm2PrivateKey, tmp_path: Path) -> None:
    exe = _openssl()
    from cryptography.hazmat.primitives import serialization

    cert = sm2.make_self_signed_certificate(key, _name("openssl check"))
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    shown = subprocess.run(
        [exe, "x509", "-in", str(path), "-noout", "-text"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert "SM2" in shown.stdout
