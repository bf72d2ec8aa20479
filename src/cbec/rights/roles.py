"""The roles an enterprise (or a customs user) is filed in, and where each role's code sits in a message.

A role is a capacity in the trade, not a kind of company: one enterprise may be filed as platform and
e-commerce enterprise at once (a self-operated store), or as logistics enterprise and supervised-site
operator (a postal enterprise running its own sorting centre).  What a role may send is in
:mod:`cbec.rights.send`; here is only where a role's code appears in a document (its *capacity fields*),
which is what lets a code in ``ebcCode`` count for an e-commerce enterprise but not for a payment company.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from cbec.rights.identity import FilingError

__all__ = [
    "CAPACITY_FIELDS",
    "CUSTOMS_ROLES",
    "DISTRICT_FIELDS",
    "PARTY_FIELDS",
    "TRADE_ROLES",
    "Role",
    "capacity_of",
    "check_roles",
    "parse_role",
    "role_label",
]


class Role(StrEnum):
    PLATFORM = "ebp"  # 电商平台
    ECOMMERCE = "ebc"  # 电商企业
    PAYMENT = "payment"  # 支付企业
    LOGISTICS = "logistics"  # 物流企业
    AGENT = "agent"  # 申报企业 (customs declaring agent / broker)
    OPERATOR = "operator"  # 监管场所经营人 (supervised-site operator, incl. zone warehousing enterprises)
    OFFICER = "officer"  # 海关关员
    ADMIN = "admin"  # 管理员


_LABELS: dict[Role, tuple[str, str]] = {
    Role.PLATFORM: ("电商平台", "e-commerce platform"),
    Role.ECOMMERCE: ("电商企业", "e-commerce enterprise"),
    Role.PAYMENT: ("支付企业", "payment enterprise"),
    Role.LOGISTICS: ("物流企业", "logistics enterprise"),
    Role.AGENT: ("申报企业", "declaring agent"),
    Role.OPERATOR: ("监管场所经营人", "supervised-site operator"),
    Role.OFFICER: ("海关关员", "customs officer"),
    Role.ADMIN: ("管理员", "administrator"),
}

#: Roles of the trade: filed under a customs code or USCC, send messages under their codes.
TRADE_ROLES = frozenset(
    {Role.PLATFORM, Role.ECOMMERCE, Role.PAYMENT, Role.LOGISTICS, Role.AGENT, Role.OPERATOR}
)
#: Roles of the customs side: filed under an account name, send no business messages.
CUSTOMS_ROLES = frozenset({Role.OFFICER, Role.ADMIN})

#: Where each trade role's code appears in CEB documents (the 2022 XSD head fields).
#: ``declAgentCode`` (CEB701) is the customs broker that files the summarised declaration; ``areaCode``
#: (CEB621) and ``iacCode`` (CEB603) are the zone warehousing enterprise, filed here as a site operator.
CAPACITY_FIELDS: dict[Role, tuple[str, ...]] = {
    Role.PLATFORM: ("ebpCode",),
    Role.ECOMMERCE: ("ebcCode",),
    Role.PAYMENT: ("payCode",),
    Role.LOGISTICS: ("logisticsCode",),
    Role.AGENT: ("agentCode", "declAgentCode"),
    Role.OPERATOR: ("operatorCode", "areaCode", "iacCode"),
}
_CAPACITY_OF = {name: role for role, names in CAPACITY_FIELDS.items() for name in names}

#: Every head field that names a party: a code in any of them makes the document that party's to read.
#: Besides the capacity fields: ``ownerCode`` (producer/seller on export lists) and ``assureCode`` (the
#: enterprise guaranteeing the tax on an import list).
PARTY_FIELDS: tuple[str, ...] = (*_CAPACITY_OF, "ownerCode", "assureCode")

#: Head fields holding a 4-digit customs code (JGS/T 18 关区代码): the declaring customs and the port.
DISTRICT_FIELDS: tuple[str, ...] = ("customsCode", "portCode")


def capacity_of(field: str) -> Role | None:
    """The role whose code ``field`` holds (``ebcCode`` → e-commerce enterprise), None for other fields."""
    return _CAPACITY_OF.get(field)


def role_label(role: Role) -> tuple[str, str]:
    """(中文, English) name of a role."""
    return _LABELS[role]


def parse_role(text: str) -> Role:
    """A role from its value (``ebp``), its English name, or its Chinese name; FilingError otherwise."""
    key = text.strip()
    for role, (zh, en) in _LABELS.items():
        if key.lower() in (role.value, en, en.replace(" ", "-"), role.name.lower()) or key == zh:
            return role
    choices = ", ".join(f"{r.value} ({_LABELS[r][0]})" for r in Role)
    raise FilingError(f"未知角色 {text!r}，可选：{choices}", f"unknown role {text!r}; one of: {choices}")


def check_roles(roles: Iterable[Role], district: str | None) -> frozenset[Role]:
    """The roles of one filing, or FilingError when they cannot go together.

    Customs users and trading enterprises are kept apart (an officer must not also trade), an officer
    belongs to exactly one customs district, and only officers have one.
    """
    chosen = frozenset(roles)
    if not chosen:
        raise FilingError("至少须有一个角色", "at least one role is required")
    if chosen & CUSTOMS_ROLES and chosen & TRADE_ROLES:
        raise FilingError(
            "海关关员或管理员不得同时登记为企业角色",
            "a customs officer or administrator cannot also be filed in an enterprise role",
        )
    if Role.OFFICER in chosen:
        if district is None or not (len(district) == 4 and district.isdigit()):
            raise FilingError(
                "海关关员须有 4 位数字关区代码（如 2200 上海海关，或 2244 某隶属海关）",
                "a customs officer needs a 4-digit customs district code (e.g. 2200, or a field office 2244)",
            )
    elif district is not None:
        raise FilingError("只有海关关员有关区代码", "only a customs officer has a customs district")
    return chosen
