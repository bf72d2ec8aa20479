"""``cbec sign``, ``cbec verify``, ``cbec keygen``: XML-DSig for CEB messages from the command line.

Who types these: an enterprise's integrator signing test messages with a software key before the crypto
device arrives, and support staff checking why a message was refused.  So bad input is one line naming the
problem (中文 / English), never a traceback.  Exit status: 0 done / signature valid; 2 refused or bad input.

Register with ``app.command(name="sign")(sign)`` and likewise for the others (done in :mod:`cbec.cli`).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.markup import escape

__all__ = ["keygen", "sign", "verify"]

_out = Console()
_err = Console(stderr=True)
_ALGORITHMS = ("sm2-sm3", "rsa-sha1", "rsa-sha256")


class _BadInput(Exception):
    """Input the user can fix; shown as is, exit 2."""


def _fail(zh: str, en: str) -> typer.Exit:
    _err.print(f"[red]{escape(zh)} / {escape(en)}[/red]")
    return typer.Exit(2)


def _read(path: Path, what_zh: str, what_en: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(
            f"无法读取{what_zh} {path}", f"cannot read the {what_en} {path}: {exc.strerror}"
        ) from None


def _serial(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "X")


def sign(
    file: Annotated[
        Path, typer.Argument(help="the CEB message to sign (business XML, not the DxpMsg envelope)")
    ],
    key: Annotated[Path, typer.Option("--key", help="private key, PEM (SM2 or RSA)")],
    cert: Annotated[Path, typer.Option("--cert", help="the key's certificate, PEM or DER")],
    algorithm: Annotated[
        str | None,
        typer.Option("--algorithm", help="sm2-sm3 | rsa-sha1 | rsa-sha256; default: what the key is"),
    ] = None,
    key_name: Annotated[
        str | None,
        typer.Option("--key-name", help="ds:KeyName (card/certificate id); default: the certificate serial"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="where to write; default FILE.signed.xml")
    ] = None,
) -> None:
    """Sign a CEB message (加签): enveloped XML-DSig, any old signature replaced."""
    from cbec.messages.safe_xml import XmlRejected
    from cbec.messages.signature import Sm2Identity, load_certificate, load_identity, sign_message

    if algorithm is not None and algorithm not in _ALGORITHMS:
        raise _fail(
            f"不支持的算法 {algorithm}", f"unknown --algorithm {algorithm}; use {' | '.join(_ALGORITHMS)}"
        )
    message = _read(file, "报文", "message")
    cert_bytes = _read(cert, "证书", "certificate")
    key_bytes = _read(key, "私钥", "private key")
    password = os.environ.get("CBEC_KEY_PASSWORD")
    try:
        certificate = load_certificate(cert_bytes)
        identity = load_identity(
            key_bytes,
            cert_bytes,
            key_name or _serial(certificate),
            password.encode() if password else None,
        )
        signed = sign_message(message, identity, algorithm)
    except XmlRejected as exc:
        raise _fail(f"报文不是可读的 XML：{exc.findings[0].message_zh}", exc.findings[0].message_en) from None
    except (ValueError, TypeError) as exc:
        raise _fail("无法加签", f"cannot sign: {exc}") from None
    target = output or file.with_name(f"{file.stem}.signed.xml")
    target.write_bytes(signed)
    chosen = algorithm or ("sm2-sm3" if isinstance(identity, Sm2Identity) else "rsa-sha1")
    _out.print(f"已加签 signed ({chosen}, KeyName {escape(identity.key_name)}) → {escape(str(target))}")


def verify(
    file: Annotated[Path, typer.Argument(help="the received CEB message (or its DxpMsg envelope)")],
    cert: Annotated[Path, typer.Option("--cert", help="the sender's registered certificate, PEM or DER")],
    key_name: Annotated[
        str | None, typer.Option("--key-name", help="the registered key name, checked against ds:KeyName")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="check as of this time (ISO 8601; naive = Beijing time)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Verify a message's signature (验签) against the sender's certificate; exit 0 valid, 2 refused."""
    from cbec.messages.signature import load_certificate, verify_message

    try:
        moment = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        raise _fail(f"--at 时间格式错误：{at}", f"--at {at!r} is not an ISO 8601 time") from None
    try:
        certificate = load_certificate(_read(cert, "证书", "certificate"))
    except ValueError as exc:
        raise _fail("证书无法读取", f"cannot read the certificate: {exc}") from None
    verdict = verify_message(_read(file, "报文", "message"), certificate, at=moment, key_name=key_name)
    if as_json:
        _out.print_json(json.dumps(verdict.as_dict(), ensure_ascii=False))
    elif verdict.ok:
        _out.print(f"[green]OK[/green] {escape(verdict.reason)}")
    else:
        codes = " ".join(c for c in (verdict.dxp_code, verdict.business_code) if c)
        _out.print(f"[red]REFUSED 拒绝[/red] {codes}: {escape(verdict.reason)}")
    raise typer.Exit(0 if verdict.ok else 2)


def _subject(text: str) -> x509.Name:
    if "=" not in text:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise _BadInput(f"--subject {text!r}: {exc}") from None


def keygen(
    subject: Annotated[str, typer.Option("--subject", help='"CN=name,O=company,C=CN" or just a name')],
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="sm2-sm3 | rsa-sha1 | rsa-sha256")
    ] = "sm2-sm3",
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="validity in days")] = 365,
    key_out: Annotated[Path, typer.Option("--key-out", help="private key file (PEM, mode 600)")] = Path(
        "cbec-key.pem"
    ),
    cert_out: Annotated[Path, typer.Option("--cert-out", help="self-signed certificate (PEM)")] = Path(
        "cbec-cert.pem"
    ),
    force: Annotated[bool, typer.Option("--force", help="overwrite existing files")] = False,
) -> None:
    """Make a software test key and self-signed certificate (测试用软证书) — never for production."""
    from cbec.messages.signature import Signer, make_sm2_test_identity, make_test_identity

    if algorithm not in _ALGORITHMS:
        raise _fail(
            f"不支持的算法 {algorithm}", f"unknown --algorithm {algorithm}; use {' | '.join(_ALGORITHMS)}"
        )
    for path in (key_out, cert_out):
        if path.exists() and not force:
            raise _fail(f"{path} 已存在", f"{path} exists; use --force to overwrite")
    try:
        name = _subject(subject)
    except _BadInput as exc:
        raise _fail("--subject 格式错误", str(exc)) from None
    start = datetime.now(UTC) - timedelta(minutes=5)
    end = start + timedelta(days=days)
    identity: Signer
    if algorithm == "sm2-sm3":
        identity = make_sm2_test_identity(not_before=start, not_after=end, subject=name)
        key_pem = identity.key.to_pem()
    else:
        identity = make_test_identity(not_before=start, not_after=end, subject=name)
        key_pem = identity.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    fd = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    cert_out.write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))
    _out.print(
        f"测试密钥 test key ({algorithm}) → {escape(str(key_out))}; 自签名证书 self-signed certificate → "
        f"{escape(str(cert_out))}; serial/KeyName {_serial(identity.certificate)}; "
        f"valid until {identity.certificate.not_valid_after_utc:%Y-%m-%d}"
    )
    _err.print("[yellow]仅供测试，勿用于生产 / for tests and demos only, never for production[/yellow]")
