"""Masking (脱敏) of personal values for display: what enterprises, dashboards and logs see.

The rules follow common Chinese practice and JR/T 0171-2020 (个人金融信息保护技术规范, 7.1.1: a displayed
ID number must hide at least the date of birth):

============== ============================ ==========================================================
kind           rule                         example
============== ============================ ==========================================================
ID number      first 3 and last 4 kept      ``110***********123X`` (18 characters); shorter numbers keep
                                            a quarter at each end at most (15 → first 3, last 3)
phone          first 3 and last 4 digits    ``138****5678``; separators kept; fewer than 7 digits: the
                                            last 2 only
name           first and last character     ``张*明``, ``张*`` (two characters), ``*`` (one)
address        first 6 characters           ``北京市朝阳区******`` (province, city, district)
account        first and last character     ``a******9``
============== ============================ ==========================================================

Hiding the area code's last three digits and the birth date leaves about 10^7 candidates per masked ID
number even knowing the check digit, while the last four still let a person recognise their own card.
Every mask keeps the length, and masking a masked value changes nothing (``*`` counts as a hidden
character), so a value can be masked at any layer without knowing whether an earlier one did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cbec.privacy.fields import PERSONAL_FIELDS, Kind, kind_of

STAR = "*"


def _ends(value: str, head: int, tail: int) -> str:
    n = len(value)
    if head + tail >= n:
        return STAR * n
    return value[:head] + STAR * (n - head - tail) + (value[n - tail :] if tail else "")


def mask_id_number(value: str) -> str:
    n = len(value)
    if n < 4:
        return STAR * n
    return _ends(value, min(3, n // 4), min(4, n // 4))


def mask_phone(value: str) -> str:
    slots = [i for i, c in enumerate(value) if c.isdigit() or c == STAR]
    n = len(slots)
    head, tail = (3, 4) if n >= 7 else (0, 2 if n >= 4 else 0)
    hidden = set(slots[head : n - tail])
    return "".join(STAR if i in hidden else c for i, c in enumerate(value))


def mask_name(value: str) -> str:
    n = len(value)
    if n <= 1:
        return STAR * n
    if n == 2:
        return value[0] + STAR
    return _ends(value, 1, 1)


def mask_address(value: str) -> str:
    n = len(value)
    return _ends(value, min(6, n // 2), 0)


def mask_account(value: str) -> str:
    return _ends(value, 1, 1) if len(value) >= 4 else STAR * len(value)


MASKS = {
    Kind.ID_NUMBER: mask_id_number,
    Kind.PHONE: mask_phone,
    Kind.NAME: mask_name,
    Kind.ADDRESS: mask_address,
    Kind.ACCOUNT: mask_account,
}


def mask_value(kind: Kind, value: str) -> str:
    return MASKS[kind](value)


def mask_field(name: str, value: Any) -> Any:
    """``value`` masked if ``name`` is a personal field (see :func:`cbec.privacy.fields.kind_of`)."""
    kind = kind_of(name)
    if kind is None or value is None:
        return value
    if isinstance(value, Mapping | list | tuple):
        return mask_record(value)
    return mask_value(kind, value if isinstance(value, str) else str(value))


def mask_record(record: Any) -> Any:
    """A copy of a record (dicts and lists, nested: a document head with its ``lines``) with every personal
    field masked by its name; other values are returned as they are."""
    if isinstance(record, Mapping):
        return {k: mask_field(str(k), v) if kind_of(str(k)) else mask_record(v) for k, v in record.items()}
    if isinstance(record, list):
        return [mask_record(v) for v in record]
    if isinstance(record, tuple):
        return tuple(mask_record(v) for v in record)
    return record


# --- XML text ------------------------------------------------------------------------------------------
# <prefix:name attrs>value</prefix:name>, the value plain or in CDATA; regular expressions rather than a
# parser, because the text to mask may be the very message that failed to parse (a CEB900 echo).
_ELEMENT = re.compile(
    r"(?P<open><(?:[\w.-]+:)?(?P<name>" + "|".join(sorted(PERSONAL_FIELDS, key=len, reverse=True)) + r")"
    r"(?:\s[^<>]*)?>)(?P<cdata><!\[CDATA\[)?(?P<value>[^<]*?)(?P<cend>\]\]>)?"
    r"(?P<close></(?:[\w.-]+:)?(?P=name)\s*>)",
    re.DOTALL,
)


def _mask_element(m: re.Match[str]) -> str:
    kind = PERSONAL_FIELDS[m["name"]]
    value = m["value"]
    stripped = value.strip()
    masked = value.replace(stripped, mask_value(kind, stripped)) if stripped else value
    return m["open"] + (m["cdata"] or "") + masked + (m["cend"] or "") + m["close"]


def mask_xml(text: str) -> str:
    """XML text with the content of every personal element masked; the rest untouched, even if broken."""
    return _ELEMENT.sub(_mask_element, text)


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def mask_xml_bytes(data: bytes) -> bytes:
    """:func:`mask_xml` for a message as received, given back in its own encoding (GBK stays GBK)."""
    declared = _DECLARED.match(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        text = data.decode(encoding, errors="surrogateescape")
    except LookupError:
        encoding = "utf-8"
        text = data.decode(encoding, errors="surrogateescape")
    return redact_text(mask_xml(text)).encode(encoding, errors="surrogateescape")


# "buyerName": "张三" (JSON) or 'buyerName': '张三' (a Python dict's repr)
_PAIR = re.compile(
    r"(?P<q>['\"])(?P<name>" + "|".join(sorted(PERSONAL_FIELDS, key=len, reverse=True)) + r")(?P=q)"
    r"(?P<sep>\s*:\s*)(?P<vq>['\"])(?P<value>[^'\"\n]*)(?P=vq)"
)


def _mask_pair(m: re.Match[str]) -> str:
    masked = mask_value(PERSONAL_FIELDS[m["name"]], m["value"])
    return f"{m['q']}{m['name']}{m['q']}{m['sep']}{m['vq']}{masked}{m['vq']}"


def mask_pairs(text: str) -> str:
    """Text with the value of every personal ``"field": "value"`` pair masked (JSON, dict reprs)."""
    return _PAIR.sub(_mask_pair, text)


# --- free text (log lines, exception messages) -----------------------------------------------------------
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_ID18 = r"[1-9]\d{5}(?:18|19|20)\d{2}" + _DATE + r"\d{3}[\dXx]"
_ID15 = r"[1-9]\d{7}" + _DATE + r"\d{3}"
_MOBILE = r"(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}"
_LANDLINE = r"0\d{2,3}-\d{7,8}"
_SHAPES = re.compile(rf"(?<![\d*])(?:(?P<id>{_ID18}|{_ID15})|(?P<phone>{_MOBILE}|{_LANDLINE}))(?![\d*])")


def _mask_shape(m: re.Match[str]) -> str:
    return mask_id_number(m[0]) if m["id"] else mask_phone(m[0])


def redact_text(text: str) -> str:
    """Free text with every ID-number-shaped and phone-shaped string masked, whatever field it came from.

    Shapes, not field names: a log line or an error message has no field names.  Numbers that merely look
    like one (an 11-digit serial starting with 13) are masked too; in a log that costs little.
    """
    return _SHAPES.sub(_mask_shape, text)


def redact_all(text: str) -> str:
    """What a log line gets: personal XML elements and ``"field": "value"`` pairs masked by name (names and
    addresses included), then ID numbers and phones masked by shape wherever they are."""
    if "<" in text:
        text = mask_xml(text)
    if ":" in text:
        text = mask_pairs(text)
    return redact_text(text)
