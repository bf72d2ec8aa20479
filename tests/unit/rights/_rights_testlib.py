"""Parties and documents for the rights tests (plain functions, imported by module name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cbec.messages.spec import message_spec
from cbec.rights import Grant, Principal, Role
from cbec.rights.roles import PARTY_FIELDS

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)
NEXT_YEAR = NOW + timedelta(days=365)

SELF = "1101000001"  # the sender
OTHER = "2201000002"  # someone who granted nothing
OWNER = "3301000003"  # an enterprise that granted (or once granted) the sender the code's role
PARTNER = "4401000004"  # the counterparty whose consent the bound secondary fields need
NEUTRAL = "5501000005"  # merely named (reference fields)

#: Who sends what, written out from the regime reference (§1, §2.2), independently of cbec.rights.send.
SENDERS: dict[str, set[Role]] = {
    "CEB311Message": {Role.PLATFORM, Role.ECOMMERCE},
    "CEB411Message": {Role.PAYMENT},
    "CEB511Message": {Role.LOGISTICS},
    "CEB513Message": {Role.LOGISTICS},
    "CEB621Message": {Role.ECOMMERCE, Role.AGENT},
    "CEB623Message": {Role.ECOMMERCE, Role.AGENT},
    "CEB625Message": {Role.ECOMMERCE, Role.AGENT},
    "CEB711Message": {Role.OPERATOR},
    "CEB303Message": {Role.PLATFORM, Role.ECOMMERCE},
    "CEB403Message": {Role.PAYMENT, Role.ECOMMERCE},
    "CEB505Message": {Role.LOGISTICS},
    "CEB507Message": {Role.OPERATOR},
    "CEB509Message": {Role.LOGISTICS},
    "CEB603Message": {Role.ECOMMERCE, Role.AGENT},
    "CEB605Message": {Role.ECOMMERCE, Role.AGENT},
    "CEB607Message": {Role.AGENT},
    "CEB213Message": {Role.ECOMMERCE, Role.AGENT},
    "CEB215Message": {Role.OPERATOR},
    "CEB701Message": {Role.ECOMMERCE, Role.AGENT},
}
DATA_TYPES = list(SENDERS)
LISTS = {
    "CEB621Message",
    "CEB623Message",
    "CEB625Message",
    "CEB603Message",
    "CEB605Message",
    "CEB213Message",
    "CEB701Message",
}
#: The field where the sender's own role appears (its "primary" field) for each sender role.
PRIMARY_FIELD: dict[Role, str] = {
    Role.PLATFORM: "ebpCode",
    Role.ECOMMERCE: "ebcCode",
    Role.PAYMENT: "payCode",
    Role.LOGISTICS: "logisticsCode",
    Role.AGENT: "agentCode",
    Role.OPERATOR: "operatorCode",
}
ROLE_OF_FIELD = {f: r for r, f in PRIMARY_FIELD.items()}


def secondary_fields(message_type: str, role: Role) -> list[str]:
    """Bound fields other than the sender's own: on lists, the other of enterprise and agent."""
    if message_type in LISTS and role in (Role.ECOMMERCE, Role.AGENT):
        return ["agentCode"] if role is Role.ECOMMERCE else ["ebcCode"]
    return []


def head_fields(message_type: str) -> list[str]:
    return message_spec(message_type).head.names


def grant(
    owner: str,
    role: Role,
    *types: str,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
    valid_from: datetime | None = None,
    grant_id: int = 1,
) -> Grant:
    return Grant(
        grant_id=grant_id,
        owner=owner,
        owner_codes=frozenset({owner}),
        role=role,
        message_types=frozenset(types),
        valid_from=valid_from,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


def principal(*roles: Role, grants: tuple[Grant, ...] = (), district: str | None = None) -> Principal:
    codes = () if set(roles) <= {Role.OFFICER, Role.ADMIN} else (SELF,)
    return Principal.of("sender", roles, codes, district=district, grants=grants)


def document(message_type: str, **values: str) -> dict[str, object]:
    """A document head of ``message_type`` with every party field NEUTRAL unless given."""
    doc: dict[str, object] = {f: NEUTRAL for f in head_fields(message_type) if f in PARTY_FIELDS}
    doc.update(values)
    return doc
