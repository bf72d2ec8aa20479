"""Who may read which document.

* An **administrator** reads everything.
* A **customs officer** reads the documents of their customs district: those whose ``customsCode``
  (the customs office that accepts the declaration, 申报地海关) or ``portCode`` (the port the goods
  actually pass, 口岸海关) lies in the district.  Both count because a list declared at an inland customs
  office is examined at the port, and since 2026-04-01 a 9610 return may re-enter through any district
  (CEB213 ``portCode``).  A district code ending in ``00`` is a directly-under customs (直属海关, e.g. 2200
  上海海关) and covers every office whose code starts with the same two digits (2201, 2244 …); any other
  code covers that office only.  Orders, payments and waybills carry no customs code: the caller passes
  the districts of the lists they are matched with (``linked_districts``), and without one an officer
  does not see them.
* An **enterprise** reads a document when one of its own codes appears in any party field (``ebpCode``,
  ``ebcCode``, ``payCode``, ``logisticsCode``, ``agentCode``, ``operatorCode``, ``areaCode``, ``iacCode``,
  ``declAgentCode``, ``ownerCode``, ``assureCode``), or when a code granted to it appears in a field of the
  granted role, for a message type the grant covers.  Receipts carry the same party fields as the
  documents they answer, so the same rule applies to them.

:func:`read_scope` gives the same rule as data for filtering queries in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cbec.rights.decision import ALLOWED, Decision, forbidden
from cbec.rights.identity import normalize_code
from cbec.rights.principal import GrantState, Principal
from cbec.rights.roles import CAPACITY_FIELDS, DISTRICT_FIELDS, PARTY_FIELDS, TRADE_ROLES, Role, role_label
from cbec.rights.send import normalize_message_type

__all__ = ["GrantedRead", "ReadScope", "authorize_read", "district_covers", "read_scope"]


def operator_codes(principal: Principal, at: datetime, message: str | None = None) -> frozenset[str]:
    """The zone-enterprise codes the principal acts for as a site operator: its own (with the operator role)
    and those of operator grants valid at ``at`` (only grants covering ``message``, when one is named)."""
    own = principal.codes if Role.OPERATOR in principal.roles else frozenset()
    granted = {
        code
        for g in principal.grants
        if g.role is Role.OPERATOR
        and (message is None or g.covers(message))
        and g.state(at) is GrantState.VALID
        for code in g.owner_codes
    }
    return frozenset(own | granted)


def district_covers(district: str, customs_code: str) -> bool:
    """Whether an officer's district includes a 4-digit customs code (see the module docstring)."""
    if district.endswith("00"):
        return customs_code[:2] == district[:2]
    return customs_code == district


def _value(doc: Mapping[str, object], name: str) -> str:
    raw = doc.get(name)
    return normalize_code(str(raw)) if raw is not None else ""


@dataclass(frozen=True, slots=True)
class GrantedRead:
    """Documents of ``message_types`` (empty: all) with one of ``codes`` in one of ``fields``."""

    codes: frozenset[str]
    fields: tuple[str, ...]
    message_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReadScope:
    """What a principal may read, as data a query layer can turn into a WHERE clause."""

    everything: bool = False
    codes: frozenset[str] = frozenset()  # in any of PARTY_FIELDS
    granted: tuple[GrantedRead, ...] = ()
    district: str | None = None  # officers: customsCode / portCode within this district

    def matches(
        self, message_type: str, document: Mapping[str, object], linked_districts: Iterable[str] = ()
    ) -> bool:
        if self.everything:
            return True
        if self.district is not None:
            codes = [_value(document, f) for f in DISTRICT_FIELDS]
            codes += [normalize_code(d) for d in linked_districts]
            if any(c and district_covers(self.district, c) for c in codes):
                return True
        if any(_value(document, f) in self.codes for f in PARTY_FIELDS if document.get(f)):
            return True
        mt = normalize_message_type(message_type) or message_type
        for g in self.granted:
            if (not g.message_types or mt in g.message_types) and any(
                _value(document, f) in g.codes for f in g.fields
            ):
                return True
        return False


def read_scope(principal: Principal, at: datetime) -> ReadScope:
    """The principal's read rights at ``at`` (grants valid then)."""
    if Role.ADMIN in principal.roles:
        return ReadScope(everything=True)
    granted = tuple(
        GrantedRead(g.owner_codes, CAPACITY_FIELDS.get(g.role, ()), g.message_types)
        for g in principal.grants
        if g.state(at) is GrantState.VALID
    )
    district = principal.district if Role.OFFICER in principal.roles else None
    # an officer's or administrator's account name is not a party code, whatever it looks like
    codes = principal.codes if principal.roles & TRADE_ROLES else frozenset()
    return ReadScope(codes=codes, granted=granted, district=district)


def authorize_read(
    principal: Principal,
    message_type: str,
    document: Mapping[str, object],
    *,
    at: datetime,
    linked_districts: Iterable[str] = (),
) -> Decision:
    """May ``principal`` read this document (its head as field → value)?  See the module docstring."""
    linked = tuple(linked_districts)
    if read_scope(principal, at).matches(message_type, document, linked):
        return ALLOWED
    if Role.OFFICER in principal.roles:
        present = [_value(document, f) for f in DISTRICT_FIELDS if document.get(f)] + list(linked)
        if not present:
            return forbidden(
                "no-district",
                "该单证没有关区代码，也未关联到本关区的清单",
                "the document has no customs code and is not linked to a list of your district",
                field="customsCode",
            )
        return forbidden(
            "other-district",
            f"该单证属关区 {', '.join(sorted(set(present)))}，不在本关区 {principal.district} 范围内",
            f"the document belongs to customs {', '.join(sorted(set(present)))}, "
            f"outside your district {principal.district}",
            field="customsCode",
        )
    mt = normalize_message_type(message_type) or message_type
    for g in principal.grants:
        fields = CAPACITY_FIELDS.get(g.role, ())
        hit = next((f for f in fields if _value(document, f) in g.owner_codes), None)
        if hit is not None and g.covers(mt):
            zh_role, en_role = role_label(g.role)
            state = g.state(at)
            return forbidden(
                f"grant-{state.value}",
                f"{hit}：{g.owner} 的{zh_role}授权当前无效（{_STATE_ZH[state]}）",
                f"{hit}: the {en_role} grant from {g.owner} is not in force ({state.value})",
                field=hit,
            )
    return forbidden(
        "not-a-party",
        "本企业的代码及获授权的代码均未出现在该单证的当事方字段中",
        "none of your codes, nor any code granted to you, appears in a party field of this document",
    )


_STATE_ZH = {
    GrantState.VALID: "有效",
    GrantState.NOT_YET: "尚未生效",
    GrantState.EXPIRED: "已到期",
    GrantState.REVOKED: "已撤销",
}
