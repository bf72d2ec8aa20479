"""Enterprise filing (备案) in the database: enterprises, codes, roles, grants, API keys, certificates.

Repository functions over a caller's connection (``with engine.begin() as conn:``); the rules they apply
(code formats, role combinations, what a grant means, how a key is checked) are in :mod:`cbec.rights`.
Input that cannot be filed raises :class:`~cbec.rights.FilingError` with the reason in 中文 and English and
changes nothing.

:func:`resolve_api_key` is what the HTTP layer calls per request: it turns a presented key into the
:class:`~cbec.rights.Principal` that :func:`cbec.rights.authorize_send` and
:func:`cbec.rights.authorize_read` take, or into the 401 decision that explains why not.  Nothing is written
on that path, so authenticating costs reads only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from cbec.rights import (
    Decision,
    FilingError,
    Grant,
    Principal,
    Role,
    StoredKey,
    check_api_key,
    classify_code,
    key_prefix,
    new_api_key,
    normalize_message_type,
)
from cbec.rights.certificates import CertificateInfo, parse_certificate
from cbec.rights.identity import normalize_code
from cbec.rights.roles import CUSTOMS_ROLES, TRADE_ROLES, check_roles, role_label
from cbec.rights.send import CUSTOMS_ISSUED, SEND_RULES
from cbec.store._common import utcnow
from cbec.store.schema import (
    enterprise,
    enterprise_api_key,
    enterprise_certificate,
    enterprise_code,
    enterprise_grant,
    enterprise_role,
)

__all__ = [
    "ApiKeyInfo",
    "CertificateRecord",
    "Enterprise",
    "GrantInfo",
    "IssuedApiKey",
    "add_certificate",
    "add_grant",
    "find_certificates",
    "get_enterprise",
    "issue_api_key",
    "list_api_keys",
    "list_certificates",
    "list_enterprises",
    "list_grants",
    "principal_for",
    "register_enterprise",
    "resolve_api_key",
    "revoke_api_key",
    "revoke_certificate",
    "revoke_grant",
]

NAME_MAX = 100
LABEL_MAX = 100


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: int
    primary_code: str
    name: str
    codes: tuple[str, ...]
    roles: frozenset[Role]
    district: str | None
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.primary_code,
            "name": self.name,
            "codes": list(self.codes),
            "roles": sorted(r.value for r in self.roles),
            "district": self.district,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as listed: never its secret."""

    id: int
    enterprise: str
    prefix: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "enterprise": self.enterprise,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new key: ``key`` is shown to the user once and is not kept anywhere."""

    info: ApiKeyInfo
    key: str


@dataclass(frozen=True, slots=True)
class GrantInfo:
    id: int
    owner: str
    grantee: str
    role: Role
    message_types: tuple[str, ...]
    valid_from: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "owner": self.owner,
            "grantee": self.grantee,
            "role": self.role.value,
            "message_types": list(self.message_types),
            "valid_from": _iso(self.valid_from),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    id: int
    enterprise: str
    info: CertificateInfo
    key_name: str | None
    created_at: datetime
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        i = self.info
        return {
            "id": self.id,
            "enterprise": self.enterprise,
            "serial": i.serial,
            "serial_hex": i.serial_hex,
            "algorithm": i.algorithm,
            "key_name": self.key_name,
            "subject": i.subject,
            "issuer": i.issuer,
            "not_before": i.not_before.isoformat(),
            "not_after": i.not_after.isoformat(),
            "fingerprint": i.fingerprint,
            "created_at": self.created_at.isoformat(),
            "revoked_at": _iso(self.revoked_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _aware(value: datetime | None, option: str) -> None:
    """Naive times are refused: whether they meant local time or UTC cannot be known."""
    if value is not None and value.tzinfo is None:
        raise FilingError(f"{option} 须带时区", f"{option} must carry a time zone")


# --- enterprises --------------------------------------------------------------------------------------


def _enterprise_id(conn: Connection, code: str) -> int:
    found = conn.execute(
        select(enterprise_code.c.enterprise_id).where(enterprise_code.c.code == normalize_code(code))
    ).scalar()
    if found is None:
        raise FilingError(f"未备案的企业或账号 {code}", f"no enterprise or account filed under {code}")
    return int(found)


def _load(conn: Connection, ids: Sequence[int]) -> list[Enterprise]:
    if not ids:
        return []
    rows = conn.execute(
        select(enterprise).where(enterprise.c.id.in_(ids)).order_by(enterprise.c.id)
    ).mappings()
    codes: dict[int, list[str]] = {}
    for eid, code in conn.execute(
        select(enterprise_code.c.enterprise_id, enterprise_code.c.code)
        .where(enterprise_code.c.enterprise_id.in_(ids))
        .order_by(enterprise_code.c.code)
    ):
        codes.setdefault(int(eid), []).append(code)
    roles: dict[int, set[Role]] = {}
    for eid, role in conn.execute(
        select(enterprise_role.c.enterprise_id, enterprise_role.c.role).where(
            enterprise_role.c.enterprise_id.in_(ids)
        )
    ):
        roles.setdefault(int(eid), set()).add(Role(role))
    out = []
    for r in rows:
        eid = int(r["id"])
        primary = r["primary_code"]
        others = [c for c in codes.get(eid, []) if c != primary]
        out.append(
            Enterprise(
                id=eid,
                primary_code=primary,
                name=r["name"],
                codes=(primary, *others),
                roles=frozenset(roles.get(eid, ())),
                district=r["district"],
                created_at=r["created_at"],
            )
        )
    return out


def register_enterprise(
    conn: Connection,
    *,
    code: str,
    name: str,
    roles: Iterable[Role | str],
    other_codes: Iterable[str] = (),
    district: str | None = None,
    at: datetime | None = None,
) -> Enterprise:
    """File an enterprise (or an officer's / administrator's account) under ``code`` and ``other_codes``.

    Trading enterprises file customs codes and USCCs (checked: format and USCC check character); officers
    and administrators file one account name.  A code belongs to one filing only.
    """
    chosen = check_roles({r if isinstance(r, Role) else Role(r) for r in roles}, district)
    account = bool(chosen & CUSTOMS_ROLES)
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise FilingError(f"名称须为 1 至 {NAME_MAX} 个字符", f"name must be 1 to {NAME_MAX} characters")
    all_codes = [normalize_code(code), *(normalize_code(c) for c in other_codes)]
    if account and len(all_codes) > 1:
        raise FilingError(
            "海关关员或管理员只有一个账号", "an officer or administrator has exactly one account"
        )
    kinds = [classify_code(c, account=account) for c in all_codes]
    if len(set(all_codes)) != len(all_codes):
        raise FilingError("代码重复", "the same code was given twice")
    taken = conn.execute(
        select(enterprise_code.c.code).where(enterprise_code.c.code.in_(all_codes))
    ).scalars()
    clash = sorted(taken)
    if clash:
        raise FilingError(f"代码已备案：{', '.join(clash)}", f"already filed: {', '.join(clash)}")
    when = at or utcnow()
    try:
        eid = conn.execute(
            insert(enterprise)
            .values(primary_code=all_codes[0], name=name, district=district, created_at=when)
            .returning(enterprise.c.id)
        ).scalar_one()
        conn.execute(
            insert(enterprise_code),
            [
                {"code": c, "enterprise_id": eid, "kind": k.value}
                for c, k in zip(all_codes, kinds, strict=True)
            ],
        )
    except IntegrityError:  # filed concurrently by someone else
        raise FilingError(
            f"代码已备案：{', '.join(all_codes)}", f"already filed: {', '.join(all_codes)}"
        ) from None
    conn.execute(insert(enterprise_role), [{"enterprise_id": eid, "role": r.value} for r in sorted(chosen)])
    return _load(conn, [eid])[0]


def get_enterprise(conn: Connection, code: str) -> Enterprise | None:
    """The filing that holds ``code`` (any of its codes), or None."""
    try:
        eid = _enterprise_id(conn, code)
    except FilingError:
        return None
    return _load(conn, [eid])[0]


def list_enterprises(conn: Connection) -> list[Enterprise]:
    ids = [int(i) for i in conn.execute(select(enterprise.c.id).order_by(enterprise.c.id)).scalars()]
    return _load(conn, ids)


# --- API keys -----------------------------------------------------------------------------------------


def _key_info(row: RowMapping, owner: str) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=int(row["id"]),
        enterprise=owner,
        prefix=row["prefix"],
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def issue_api_key(
    conn: Connection,
    code: str,
    *,
    label: str = "",
    expires_at: datetime | None = None,
    at: datetime | None = None,
) -> IssuedApiKey:
    """A new API key for the filing holding ``code``; the returned ``key`` is the only copy of the secret."""
    eid = _enterprise_id(conn, code)
    when = at or utcnow()
    _aware(expires_at, "expires_at")
    if expires_at is not None and expires_at <= when:
        raise FilingError("到期时间须晚于现在", "the expiry must be in the future")
    if len(label) > LABEL_MAX:
        raise FilingError(f"标签最长 {LABEL_MAX} 个字符", f"a label has at most {LABEL_MAX} characters")
    issued = new_api_key()
    row = (
        conn.execute(
            insert(enterprise_api_key)
            .values(
                enterprise_id=eid,
                prefix=issued.prefix,
                key_hash=issued.key_hash,
                label=label,
                created_at=when,
                expires_at=expires_at,
            )
            .returning(*enterprise_api_key.c)
        )
        .mappings()
        .one()
    )
    return IssuedApiKey(info=_key_info(row, _primary(conn, eid)), key=issued.key)


def revoke_api_key(conn: Connection, prefix: str, *, at: datetime | None = None) -> bool:
    """Revoke the key with this public prefix; False when there is none or it was revoked already."""
    result = conn.execute(
        update(enterprise_api_key)
        .where(
            enterprise_api_key.c.prefix == prefix.strip().lower(), enterprise_api_key.c.revoked_at.is_(None)
        )
        .values(revoked_at=at or utcnow())
    )
    return bool(result.rowcount)


def list_api_keys(conn: Connection, code: str) -> list[ApiKeyInfo]:
    eid = _enterprise_id(conn, code)
    owner = _primary(conn, eid)
    rows = conn.execute(
        select(enterprise_api_key)
        .where(enterprise_api_key.c.enterprise_id == eid)
        .order_by(enterprise_api_key.c.id)
    ).mappings()
    return [_key_info(r, owner) for r in rows]


# --- grants -------------------------------------------------------------------------------------------


def _primary(conn: Connection, eid: int) -> str:
    return str(conn.execute(select(enterprise.c.primary_code).where(enterprise.c.id == eid)).scalar_one())


def _message_types(types: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for text in types:
        mt = normalize_message_type(text)
        if mt is None or (mt not in SEND_RULES and mt not in CUSTOMS_ISSUED):
            raise FilingError(f"未知的报文类型 {text!r}", f"unknown message type {text!r}")
        if mt not in out:
            out.append(mt)
    return tuple(out)


def _grant_info(row: RowMapping, codes: dict[int, str]) -> GrantInfo:
    types = row["message_types"]
    return GrantInfo(
        id=int(row["id"]),
        owner=codes[int(row["owner_id"])],
        grantee=codes[int(row["grantee_id"])],
        role=Role(row["role"]),
        message_types=tuple(types.split(",")) if types else (),
        valid_from=row["valid_from"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
    )


def add_grant(
    conn: Connection,
    *,
    owner: str,
    grantee: str,
    role: Role | str,
    message_types: Iterable[str] = (),
    valid_from: datetime | None = None,
    expires_at: datetime | None = None,
    at: datetime | None = None,
) -> GrantInfo:
    """The owner lets the grantee act as ``role`` under the owner's codes (for ``message_types``; none: all).

    The owner must itself be filed in that role, and both must be trading enterprises.
    """
    role = role if isinstance(role, Role) else Role(role)
    owner_e = get_enterprise(conn, owner)
    grantee_e = get_enterprise(conn, grantee)
    if owner_e is None or grantee_e is None:
        missing = owner if owner_e is None else grantee
        raise FilingError(f"未备案的企业 {missing}", f"no enterprise filed under {missing}")
    if owner_e.id == grantee_e.id:
        raise FilingError("不能授权给自己", "an enterprise cannot grant to itself")
    if role not in TRADE_ROLES or not grantee_e.roles & TRADE_ROLES:
        raise FilingError(
            "授权只在企业之间进行（不涉及海关关员或管理员）",
            "grants are between enterprises (not officers or administrators)",
        )
    if role not in owner_e.roles:
        zh, en = role_label(role)
        raise FilingError(
            f"{owner_e.primary_code} 未备案为{zh}，不能授权该角色",
            f"{owner_e.primary_code} is not filed as {en} and cannot grant that role",
        )
    types = _message_types(message_types)
    when = at or utcnow()
    _aware(valid_from, "valid_from")
    _aware(expires_at, "expires_at")
    if expires_at is not None and expires_at <= (valid_from or when):
        raise FilingError("到期时间须晚于生效时间", "the expiry must come after the start")
    row = (
        conn.execute(
            insert(enterprise_grant)
            .values(
                owner_id=owner_e.id,
                grantee_id=grantee_e.id,
                role=role.value,
                message_types=",".join(types),
                valid_from=valid_from,
                expires_at=expires_at,
                created_at=when,
            )
            .returning(*enterprise_grant.c)
        )
        .mappings()
        .one()
    )
    return _grant_info(row, {owner_e.id: owner_e.primary_code, grantee_e.id: grantee_e.primary_code})


def revoke_grant(conn: Connection, grant_id: int, *, at: datetime | None = None) -> bool:
    """Revoke a grant; False when there is none or it was revoked already.  The row stays, as the record."""
    result = conn.execute(
        update(enterprise_grant)
        .where(enterprise_grant.c.id == grant_id, enterprise_grant.c.revoked_at.is_(None))
        .values(revoked_at=at or utcnow())
    )
    return bool(result.rowcount)


def list_grants(conn: Connection, code: str) -> list[GrantInfo]:
    """Grants the filing holding ``code`` has given or received, oldest first."""
    eid = _enterprise_id(conn, code)
    rows = list(
        conn.execute(
            select(enterprise_grant)
            .where((enterprise_grant.c.owner_id == eid) | (enterprise_grant.c.grantee_id == eid))
            .order_by(enterprise_grant.c.id)
        ).mappings()
    )
    ids = {int(r["owner_id"]) for r in rows} | {int(r["grantee_id"]) for r in rows}
    codes = {
        int(i): c
        for i, c in conn.execute(
            select(enterprise.c.id, enterprise.c.primary_code).where(enterprise.c.id.in_(ids))
        )
    }
    return [_grant_info(r, codes) for r in rows]


# --- certificates -------------------------------------------------------------------------------------


def _cert_record(row: RowMapping, owner: str) -> CertificateRecord:
    info = CertificateInfo(  # from the columns: no parsing on the signature-check path
        serial=row["serial"],
        serial_hex=format(int(row["serial"]), "X"),
        algorithm=row["algorithm"],
        subject=row["subject"],
        issuer=row["issuer"],
        not_before=row["not_before"],
        not_after=row["not_after"],
        fingerprint=row["fingerprint"],
        pem=row["pem"],
    )
    return CertificateRecord(
        id=int(row["id"]),
        enterprise=owner,
        info=info,
        key_name=row["key_name"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def add_certificate(
    conn: Connection, code: str, pem: str | bytes, *, key_name: str | None = None, at: datetime | None = None
) -> CertificateRecord:
    """Register a signing certificate (PEM) for the filing holding ``code``.

    ``key_name`` is the ``KeyName`` the enterprise's signatures carry (the e-port card id), when known.
    The same certificate (by SHA-256 fingerprint) is filed once.
    """
    eid = _enterprise_id(conn, code)
    info = parse_certificate(pem)
    if key_name is not None and not 0 < len(key_name.strip()) <= 64:
        raise FilingError("KeyName 须为 1 至 64 个字符", "KeyName must be 1 to 64 characters")
    known = conn.execute(
        select(enterprise_certificate.c.enterprise_id).where(
            enterprise_certificate.c.fingerprint == info.fingerprint
        )
    ).scalar()
    if known is not None:
        holder = _primary(conn, int(known))
        raise FilingError(
            f"该证书已登记（{holder}）", f"this certificate is already registered (to {holder})"
        )
    row = (
        conn.execute(
            insert(enterprise_certificate)
            .values(
                enterprise_id=eid,
                serial=info.serial,
                algorithm=info.algorithm,
                key_name=key_name.strip() if key_name else None,
                subject=info.subject,
                issuer=info.issuer,
                not_before=info.not_before,
                not_after=info.not_after,
                fingerprint=info.fingerprint,
                pem=info.pem,
                created_at=at or utcnow(),
            )
            .returning(*enterprise_certificate.c)
        )
        .mappings()
        .one()
    )
    return _cert_record(row, _primary(conn, eid))


def revoke_certificate(conn: Connection, certificate_id: int, *, at: datetime | None = None) -> bool:
    result = conn.execute(
        update(enterprise_certificate)
        .where(enterprise_certificate.c.id == certificate_id, enterprise_certificate.c.revoked_at.is_(None))
        .values(revoked_at=at or utcnow())
    )
    return bool(result.rowcount)


def _certificates(conn: Connection, *conditions: ColumnElement[bool]) -> list[CertificateRecord]:
    rows = conn.execute(
        select(enterprise_certificate, enterprise.c.primary_code)
        .join(enterprise, enterprise.c.id == enterprise_certificate.c.enterprise_id)
        .where(*conditions)
        .order_by(enterprise_certificate.c.id)
    ).mappings()
    return [_cert_record(r, r["primary_code"]) for r in rows]


def list_certificates(
    conn: Connection, code: str, *, include_revoked: bool = True
) -> list[CertificateRecord]:
    """The certificates of the filing holding ``code``, oldest first."""
    eid = _enterprise_id(conn, code)
    conditions: list[ColumnElement[bool]] = [enterprise_certificate.c.enterprise_id == eid]
    if not include_revoked:
        conditions.append(enterprise_certificate.c.revoked_at.is_(None))
    return _certificates(conn, *conditions)


def find_certificates(
    conn: Connection,
    *,
    serial: str | None = None,
    key_name: str | None = None,
    owner: str | None = None,
) -> list[CertificateRecord]:
    """Certificates a signature may have been made with, revoked ones included (the caller says 1001/1002).

    Look up by the signature's ``X509SerialNumber`` (decimal) or ``KeyName``, optionally only those of the
    sender (``owner``: any of its codes).  A serial is unique per issuer only, so several may come back; the
    caller compares the certificate carried in the signature (or the issuer) to pick one.
    """
    conditions: list[ColumnElement[bool]] = []
    if serial is not None:
        conditions.append(enterprise_certificate.c.serial == serial.strip())
    if key_name is not None:
        conditions.append(enterprise_certificate.c.key_name == key_name.strip())
    if owner is not None:
        found = select(enterprise_code.c.enterprise_id).where(enterprise_code.c.code == normalize_code(owner))
        eid = conn.execute(found).scalar()
        if eid is None:
            return []
        conditions.append(enterprise_certificate.c.enterprise_id == eid)
    if not conditions:
        raise ValueError("find_certificates needs a serial, a key name or an owner")
    return _certificates(conn, *conditions)


# --- principals ---------------------------------------------------------------------------------------


def _grants_received(conn: Connection, eid: int) -> tuple[Grant, ...]:
    rows = list(
        conn.execute(
            select(enterprise_grant)
            .where(enterprise_grant.c.grantee_id == eid)
            .order_by(enterprise_grant.c.id)
        ).mappings()
    )
    if not rows:
        return ()
    owners = {int(r["owner_id"]) for r in rows}
    codes: dict[int, set[str]] = {}
    for oid, code in conn.execute(
        select(enterprise_code.c.enterprise_id, enterprise_code.c.code).where(
            enterprise_code.c.enterprise_id.in_(owners)
        )
    ):
        codes.setdefault(int(oid), set()).add(code)
    primaries = {
        int(i): c
        for i, c in conn.execute(
            select(enterprise.c.id, enterprise.c.primary_code).where(enterprise.c.id.in_(owners))
        )
    }
    return tuple(
        Grant(
            grant_id=int(r["id"]),
            owner=primaries[int(r["owner_id"])],
            owner_codes=frozenset(codes.get(int(r["owner_id"]), ())),
            role=Role(r["role"]),
            message_types=frozenset(r["message_types"].split(",")) if r["message_types"] else frozenset(),
            valid_from=r["valid_from"],
            expires_at=r["expires_at"],
            revoked_at=r["revoked_at"],
        )
        for r in rows
    )


def _principal(conn: Connection, eid: int, credential: str | None) -> Principal:
    e = _load(conn, [eid])[0]
    return Principal(
        name=e.name,
        roles=e.roles,
        codes=frozenset(e.codes),
        district=e.district,
        grants=_grants_received(conn, eid),
        enterprise_id=e.id,
        credential=credential,
    )


def principal_for(conn: Connection, code: str) -> Principal | None:
    """The principal of the filing holding ``code`` (e.g. once a signature has identified the sender)."""
    try:
        eid = _enterprise_id(conn, code)
    except FilingError:
        return None
    return _principal(conn, eid, None)


def resolve_api_key(conn: Connection, key: str, *, at: datetime | None = None) -> Principal | Decision:
    """The principal an API key stands for, or the 401 :class:`~cbec.rights.Decision` saying why not.

    The principal carries its roles, own codes, customs district and every grant it received (with their
    validity: the rights functions judge them at the request's time and explain lapsed ones).
    """
    when = at or utcnow()
    prefix = key_prefix(key)
    row = None
    if prefix is not None:
        row = (
            conn.execute(select(enterprise_api_key).where(enterprise_api_key.c.prefix == prefix))
            .mappings()
            .first()
        )
    stored = (
        StoredKey(row["prefix"], row["key_hash"], expires_at=row["expires_at"], revoked_at=row["revoked_at"])
        if row is not None
        else None
    )
    decision = check_api_key(key, stored, when)
    if not decision.allowed or row is None:
        return decision
    return _principal(conn, int(row["enterprise_id"]), prefix)
