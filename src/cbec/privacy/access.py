"""Who may see personal values unmasked, and the one function that decides what a reader is shown.

The policy is deliberately narrow (PIPL 个人信息保护法 art. 6 and 28: minimum necessary; ID numbers are
sensitive personal information):

* **customs officers** (海关关员) may see ID numbers, names and phones in clear, because identity checks in
  manual review and inspection need them — and then only when they ask for it and say why (a *purpose*,
  e.g. ``"manual review 300"``); every such read is audited (``cbec.store.pii_audit``);
* **everybody else sees masked values**, the administrator included (running the system does not need to
  know who bought what), and so do the enterprises that declared the data: a platform, payment company or
  logistics company already holds its own customers' data in its own systems and finds a parcel by its
  order, payment or waybill number, so cbec never needs to send those values back to it.

Role names are strings (``cbec.rights`` owns the role model); they are compared in a normal form, lower
case with ``_`` for spaces and hyphens, so ``"Customs officer"`` and ``"customs-officer"`` are one role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cbec.privacy.fields import kind_of
from cbec.privacy.masking import mask_record

ROLES = (
    "platform",  # 电商平台
    "ecommerce_enterprise",  # 电商企业
    "payment",  # 支付企业
    "logistics",  # 物流企业
    "declaring_agent",  # 申报企业
    "supervised_site",  # 监管场所经营人
    "customs_officer",  # 海关关员
    "administrator",  # 管理员
)
#: Other spellings of the same roles, including the short codes ``cbec.rights`` uses (``ebp``, ``officer`` …).
ALIASES = {
    "ebp": "platform",
    "ebc": "ecommerce_enterprise",
    "agent": "declaring_agent",
    "operator": "supervised_site",
    "officer": "customs_officer",
    "customs": "customs_officer",
    "admin": "administrator",
}
UNMASKED_ROLES = frozenset({"customs_officer"})


class UnmaskRefused(PermissionError):
    """A request to see personal values in clear that the policy does not allow (answer it with 403)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def normal_role(role: str) -> str:
    name = role.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(name, name)


def may_unmask(role: str) -> bool:
    return normal_role(role) in UNMASKED_ROLES


def unmasking_role(roles: Iterable[str]) -> str | None:
    """Of a reader's roles, the one under which it may see personal data in clear (None: it may not)."""
    return next((r for r in sorted(roles) if may_unmask(r)), None)


@dataclass(frozen=True, slots=True)
class View:
    """What a reader is shown, and which personal fields it saw in clear (to be audited; empty if none)."""

    record: Any
    unmasked: tuple[str, ...]


def personal_fields(record: Any, prefix: str = "") -> list[str]:
    """The personal fields holding a value in a record (nested lists as ``lines[].x``), in order."""
    found: list[str] = []
    if isinstance(record, Mapping):
        for key, value in record.items():
            name = f"{prefix}{key}"
            if kind_of(str(key)) and value not in (None, ""):
                found.append(name)
            elif isinstance(value, Mapping | list):
                found += personal_fields(value, f"{name}.")
    elif isinstance(record, list):
        for item in record:
            found += [f for f in personal_fields(item, prefix.rstrip(".") + "[].") if f not in found]
    return found


def present(record: Any, *, role: str, unmask: bool = False, purpose: str | None = None) -> View:
    """The record as this reader may see it: masked, unless it asked to ``unmask``, its role may, and it
    gave a ``purpose``.  A refused request raises :class:`UnmaskRefused` rather than silently masking, so
    the caller answers 403 and the reader knows why."""
    if not unmask:
        return View(mask_record(record), ())
    if not may_unmask(role):
        raise UnmaskRefused(
            f"角色“{role}”无权查看未脱敏的个人信息（仅海关关员可查看）",
            f"role {role!r} may not see personal data unmasked (customs officers only)",
        )
    if not purpose or not purpose.strip():
        raise UnmaskRefused(
            "查看未脱敏的个人信息须说明用途", "say why (a purpose) to see personal data unmasked"
        )
    return View(record, tuple(personal_fields(record)))
