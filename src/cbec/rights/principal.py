"""Who is asking: a principal (one filed enterprise or customs user) and the grants it holds.

These are plain values that the store builds from the filing tables for each request.  Grants are kept
with their validity rather than filtered in advance, so a refusal can say that a grant *expired* or was
*revoked*, which tells the sender what to do, instead of only "not your code".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cbec.rights.identity import normalize_code
from cbec.rights.roles import Role

__all__ = ["Grant", "GrantState", "Principal"]


class GrantState(StrEnum):
    VALID = "valid"
    NOT_YET = "not-yet-valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Grant:
    """The owner lets the holder act in ``role`` under the owner's codes (委托/授权).

    ``message_types`` limits the grant to those CEB message types (root names such as ``CEB621Message``);
    empty means every message type.  The grant covers the owner's codes only in the fields of ``role``
    (an e-commerce enterprise's grant makes its code usable in ``ebcCode``, not in ``agentCode``), and it
    also lets the holder send the message types of ``role`` under those codes (a logistics company
    entrusted by an e-commerce enterprise may send its orders, CEB311).
    """

    grant_id: int
    owner: str  # the owner's primary code, for messages
    owner_codes: frozenset[str]
    role: Role
    message_types: frozenset[str] = frozenset()
    valid_from: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def covers(self, message_type: str) -> bool:
        return not self.message_types or message_type in self.message_types

    def state(self, at: datetime) -> GrantState:
        if self.revoked_at is not None and self.revoked_at <= at:
            return GrantState.REVOKED
        if self.expires_at is not None and self.expires_at <= at:
            return GrantState.EXPIRED
        if self.valid_from is not None and at < self.valid_from:
            return GrantState.NOT_YET
        return GrantState.VALID


@dataclass(frozen=True, slots=True)
class Principal:
    """One authenticated party: its own codes, roles, customs district (officers) and grants received."""

    name: str
    roles: frozenset[Role]
    codes: frozenset[str] = frozenset()
    district: str | None = None
    grants: tuple[Grant, ...] = ()
    enterprise_id: int | None = None
    credential: str | None = None  # the public prefix of the API key used, for audit logs

    @classmethod
    def of(
        cls,
        name: str,
        roles: Iterable[Role],
        codes: Iterable[str] = (),
        *,
        district: str | None = None,
        grants: Iterable[Grant] = (),
    ) -> Principal:
        """Convenience constructor (tests, demos): codes normalised, roles and grants frozen."""
        return cls(
            name=name,
            roles=frozenset(roles),
            codes=frozenset(normalize_code(c) for c in codes),
            district=district,
            grants=tuple(grants),
        )

    def owns(self, code: str) -> bool:
        return code in self.codes

    def grants_for(self, code: str) -> list[Grant]:
        return [g for g in self.grants if code in g.owner_codes]
