"""What a signature check answers: accepted, or refused with the specification's codes and a bilingual reason.

Why a module of its own: the HTTP layer turns a refusal into a DXP response code and a business receipt,
the console shows the reason, and the CLI prints it — all from this one table, so the code a sender sees
for "the data was changed after signing" is the same everywhere.

Codes (S1 §7): DXP 1001 数字签名无效 (invalid signature), 1002 数字签名过期 (expired signature),
1004 签名与数据不符 (signature does not match the data); business −621028 加签数据比对失败 (signed data does
not match) and −621029 验签失败 (verification failed).  The specification defines signature codes only in
the import-list family (−621…); they are used for every signed message type, as customs has published no
others.  1003 (decryption) never applies: CEB messages are signed, not encrypted.  Input that is not XML at
all gets 0001 (报文格式错误).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["Refusal", "Verdict"]


class Refusal(StrEnum):
    """Why a signed (or unsigned) message was refused."""

    NOT_XML = "not_xml"
    MISSING = "missing"
    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    NO_CERTIFICATE = "no_certificate"
    CERTIFICATE_MISMATCH = "certificate_mismatch"
    KEY_NAME_MISMATCH = "key_name_mismatch"
    KEY_ALGORITHM_MISMATCH = "key_algorithm_mismatch"
    NOT_YET_VALID = "certificate_not_yet_valid"
    EXPIRED = "certificate_expired"
    DIGEST_MISMATCH = "digest_mismatch"
    BAD_SIGNATURE = "bad_signature_value"


_INVALID, _EXPIRED, _MISMATCH = "1001", "1002", "1004"
_VERIFY_FAILED, _DATA_MISMATCH = "-621029", "-621028"

# refusal -> (DXP code, business code, reason zh, reason en); {detail} is filled in per case
_TABLE: Final[dict[Refusal, tuple[str, str | None, str, str]]] = {
    Refusal.NOT_XML: (
        "0001",
        None,
        "报文不是可读的 XML：{detail}",
        "the message is not readable XML: {detail}",
    ),
    Refusal.MISSING: (
        _INVALID,
        _VERIFY_FAILED,
        "该报文必须加签（ds:Signature），但未找到签名",
        "this message must be signed (ds:Signature) but carries no signature",
    ),
    Refusal.MALFORMED: (
        _INVALID,
        _VERIFY_FAILED,
        "签名节点不完整或格式错误：{detail}",
        "the Signature element is incomplete or malformed: {detail}",
    ),
    Refusal.UNSUPPORTED_ALGORITHM: (
        _INVALID,
        _VERIFY_FAILED,
        "不支持的算法：{detail}",
        "unsupported algorithm: {detail}",
    ),
    Refusal.NO_CERTIFICATE: (
        _INVALID,
        _VERIFY_FAILED,
        "发送方没有备案的签名证书",
        "the sender has no registered signing certificate",
    ),
    Refusal.CERTIFICATE_MISMATCH: (
        _INVALID,
        _VERIFY_FAILED,
        "报文中的证书不是发送方备案的证书：{detail}",
        "the certificate in the message is not the sender's registered one: {detail}",
    ),
    Refusal.KEY_NAME_MISMATCH: (
        _INVALID,
        _VERIFY_FAILED,
        "签名证书名（KeyName）与备案不符：{detail}",
        "the key name (KeyName) does not match the registered one: {detail}",
    ),
    Refusal.KEY_ALGORITHM_MISMATCH: (
        _INVALID,
        _VERIFY_FAILED,
        "签名算法与证书密钥类型不符：{detail}",
        "the signature algorithm does not fit the certificate's key: {detail}",
    ),
    Refusal.NOT_YET_VALID: (
        _EXPIRED,
        _VERIFY_FAILED,
        "签名证书尚未生效（生效时间 {detail}）",
        "the signing certificate is not valid yet (valid from {detail})",
    ),
    Refusal.EXPIRED: (
        _EXPIRED,
        _VERIFY_FAILED,
        "签名证书已过期（有效期至 {detail}）",
        "the signing certificate has expired (valid until {detail})",
    ),
    Refusal.DIGEST_MISMATCH: (
        _MISMATCH,
        _DATA_MISMATCH,
        "加签数据比对失败：报文在签名后被修改（摘要不符）",
        "the signed data does not match: the message was changed after signing (digest mismatch)",
    ),
    Refusal.BAD_SIGNATURE: (
        _INVALID,
        _VERIFY_FAILED,
        "验签失败：签名值与证书不符",
        "verification failed: the signature value does not match the certificate",
    ),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of :func:`cbec.messages.signature.verify_message`; ``ok`` or a refusal with its codes."""

    ok: bool
    reason_zh: str
    reason_en: str
    refusal: Refusal | None = None
    dxp_code: str | None = None
    business_code: str | None = None
    algorithm: str | None = None  # "sm2-sm3", "rsa-sha1", "rsa-sha256" when a signature was read
    key_name: str | None = None
    signed: bool = False
    required: bool = False

    @classmethod
    def accepted(
        cls, *, algorithm: str | None, key_name: str | None, signed: bool, required: bool
    ) -> Verdict:
        if signed:
            zh, en = f"签名有效（{algorithm}）", f"signature valid ({algorithm})"
        else:
            zh, en = "该报文无需加签，且未加签", "this message need not be signed and is not signed"
        return cls(True, zh, en, algorithm=algorithm, key_name=key_name, signed=signed, required=required)

    @classmethod
    def refused(
        cls,
        refusal: Refusal,
        detail: str = "",
        *,
        algorithm: str | None = None,
        key_name: str | None = None,
        signed: bool = True,
        required: bool = False,
    ) -> Verdict:
        dxp, business, zh, en = _TABLE[refusal]
        return cls(
            False,
            zh.format(detail=detail),
            en.format(detail=detail),
            refusal=refusal,
            dxp_code=dxp,
            business_code=business,
            algorithm=algorithm,
            key_name=key_name,
            signed=signed,
            required=required,
        )

    @property
    def reason(self) -> str:
        """Both languages on one line, as receipts and logs show it."""
        return f"{self.reason_zh} / {self.reason_en}"

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "refusal": None if self.refusal is None else self.refusal.value,
            "dxpCode": self.dxp_code,
            "businessCode": self.business_code,
            "reasonZh": self.reason_zh,
            "reasonEn": self.reason_en,
            "algorithm": self.algorithm,
            "keyName": self.key_name,
            "signed": self.signed,
            "required": self.required,
        }


def codes_of(refusal: Refusal) -> tuple[str, str | None]:
    """The (DXP code, business code) a refusal carries — what tests and the docs table read."""
    dxp, business, _zh, _en = _TABLE[refusal]
    return dxp, business
