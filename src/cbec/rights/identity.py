"""Who an enterprise is: its 10-character customs code (海关编码) or 18-character USCC (统一社会信用代码).

Enterprises appear in CEB messages under either kind of code (the XSDs say "10位海关编码或18位统一社会
信用代码"), so both identify a filed enterprise and one enterprise may file both.  A USCC carries a check
character (GB 32100-2015) that catches mistyped codes at filing time, before they can silently fail to
match a message.  Customs codes have no published check digit; only their shape is checked.

Officers and administrators are not enterprises and have no such code: they are filed under an account name.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "USCC_ALPHABET",
    "CodeKind",
    "FilingError",
    "classify_code",
    "normalize_code",
    "uscc_check_char",
    "valid_customs_code",
    "valid_uscc",
]

#: The 31 characters a USCC may use (GB 32100-2015 table 1: digits and capitals without I, O, S, V, Z).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
#: Weight of position i (0-based) is 3**i mod 31.
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_SHAPE = re.compile(rf"^[{USCC_ALPHABET}]{{2}}[0-9]{{6}}[{USCC_ALPHABET}]{{10}}$")
_CUSTOMS_SHAPE = re.compile(r"^[0-9]{4}[0-9A-Z]{6}$")
_ACCOUNT_SHAPE = re.compile(r"^[^\s]{1,32}$")


class CodeKind(StrEnum):
    CUSTOMS = "customs"  # 海关编码, 10 characters
    USCC = "uscc"  # 统一社会信用代码, 18 characters
    ACCOUNT = "account"  # an officer's or administrator's account name: never a party code


class FilingError(ValueError):
    """Filing input that cannot be accepted; carries the reason in 中文 and English for the user."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def normalize_code(code: str) -> str:
    """Codes are compared upper-case and without surrounding blanks, as senders type them either way."""
    return code.strip().upper()


def uscc_check_char(first17: str) -> str:
    """The 18th character of a USCC for its first 17 (GB 32100-2015 §5: C18 = 31 − Σ Ci·Wi mod 31)."""
    if len(first17) != 17 or any(ch not in _USCC_VALUE for ch in first17):
        raise ValueError(f"expected 17 characters of the USCC alphabet, got {first17!r}")
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def valid_uscc(code: str) -> bool:
    """18 characters of the right shape (positions 3–8 are the administrative-division digits) and check."""
    return bool(_USCC_SHAPE.match(code)) and uscc_check_char(code[:17]) == code[17]


def valid_customs_code(code: str) -> bool:
    """10 characters: the 4-digit customs district, then digits or capitals."""
    return bool(_CUSTOMS_SHAPE.match(code))


def classify_code(code: str, *, account: bool = False) -> CodeKind:
    """The kind of an identity code, or :class:`FilingError` saying what is wrong with it.

    ``account`` is for officers and administrators, whose identity is an account name, not a party code.
    """
    code = normalize_code(code)
    if account:
        if not _ACCOUNT_SHAPE.match(code):
            raise FilingError(
                f"账号 {code!r} 须为 1 至 32 个非空白字符",
                f"account {code!r} must be 1 to 32 characters without blanks",
            )
        return CodeKind.ACCOUNT
    if len(code) == 18:
        if not _USCC_SHAPE.match(code):
            raise FilingError(
                f"统一社会信用代码 {code} 含不允许的字符（不得含 I、O、S、V、Z，第 3–8 位须为数字）",
                f"USCC {code} has characters not allowed (no I, O, S, V, Z; positions 3–8 are digits)",
            )
        expected = uscc_check_char(code[:17])
        if expected != code[17]:
            raise FilingError(
                f"统一社会信用代码 {code} 校验码错误（应为 {expected}）",
                f"USCC {code} has a wrong check character (expected {expected})",
            )
        return CodeKind.USCC
    if len(code) == 10:
        if not valid_customs_code(code):
            raise FilingError(
                f"海关编码 {code} 格式错误（前 4 位为关区代码数字，其余为数字或大写字母）",
                f"customs code {code} is malformed (4 district digits, then digits or capitals)",
            )
        return CodeKind.CUSTOMS
    raise FilingError(
        f"企业代码 {code!r} 须为 10 位海关编码或 18 位统一社会信用代码",
        f"enterprise code {code!r} must be a 10-character customs code or an 18-character USCC",
    )
