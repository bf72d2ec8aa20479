"""``cbec enterprise``: file enterprises (备案), issue API keys, grant codes, upload certificates.

* ``add CODE --name … --role …`` files an enterprise under its customs code or USCC (``--also`` for the
  other one), or an officer's / administrator's account (``--district`` for officers);
* ``list [CODE]`` lists the filings, or shows one with its keys, grants and certificates;
* ``key CODE`` issues an API key and prints it once: only its hash is kept;
* ``grant OWNER GRANTEE --role …`` lets GRANTEE act in OWNER's role under OWNER's codes (委托/授权);
* ``revoke key PREFIX | grant ID | cert ID`` revokes one credential or grant (the record stays);
* ``cert CODE FILE.pem`` registers a signing certificate (RSA or SM2).

Register with ``app.add_typer(enterprise.app, name="enterprise")``.  Exit 0 on success; 2 with a one-line
reason in 中文 and English when the input cannot be filed (nothing is changed then).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection

from cbec.rights import FilingError, Role, parse_role
from cbec.rights.roles import role_label

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Enterprise filing (企业备案), API keys, grants and certificates.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)
_DB_HELP = "database URL (default: $CBEC_DATABASE_URL or var/cbec.db)"
_JSON_HELP = "print the result as JSON"


def _fail(zh: str, en: str) -> typer.Exit:
    _err.print(f"[red]{escape(zh)} / {escape(en)}[/red]", highlight=False)
    return typer.Exit(2)


def _run(database: str | None, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction; a FilingError rolls it back and exits 2 with its reason."""
    from cbec.store.db import connect

    engine = connect(database)
    try:
        with engine.begin() as conn:
            return work(conn)
    except FilingError as exc:
        raise _fail(exc.zh, exc.en) from None
    finally:
        engine.dispose()


@contextmanager
def _filing_errors() -> Iterator[None]:
    try:
        yield
    except FilingError as exc:
        raise _fail(exc.zh, exc.en) from None


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"{option} 须为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM:SS",
            f"{option} must be YYYY-MM-DD[THH:MM:SS], got {text!r}",
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _roles_text(roles: frozenset[Role]) -> str:
    return ", ".join(f"{r.value} ({role_label(r)[0]})" for r in sorted(roles, key=list(Role).index))


@app.command()
def add(
    code: Annotated[str, typer.Argument(help="customs code (10) or USCC (18); an account name for officers")],
    name: Annotated[str, typer.Option(help="registered name (企业名称)")],
    role: Annotated[
        list[str],
        typer.Option(help="ebp, ebc, payment, logistics, agent, operator, officer or admin (repeatable)"),
    ],
    also: Annotated[
        list[str] | None, typer.Option(help="another code of the same enterprise, e.g. its USCC (repeatable)")
    ] = None,
    district: Annotated[
        str | None, typer.Option(help="officers: 4-digit customs district (关区代码)")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """File an enterprise (企业备案) or a customs user in one or more roles."""
    from cbec.store import enterprises

    with _filing_errors():
        roles = [parse_role(r) for r in role]
    filed = _run(
        database,
        lambda conn: enterprises.register_enterprise(
            conn, code=code, name=name, roles=roles, other_codes=also or (), district=district
        ),
    )
    if as_json:
        _print_json(filed.to_json())
    else:
        print(f"filed 已备案: {filed.primary_code} {filed.name} — {_roles_text(filed.roles)}")


@app.command(name="list")
def list_(
    code: Annotated[
        str | None, typer.Argument(help="show one filing with its keys, grants, certificates")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """List filed enterprises, or show one (any of its codes) with its credentials and grants."""
    from cbec.store import enterprises

    if code is None:
        everyone = _run(database, enterprises.list_enterprises)
        if as_json:
            _print_json([e.to_json() for e in everyone])
            return
        table = Table(title="filed enterprises — 备案企业", show_header=True)
        for column in ("code", "name", "roles", "other codes", "district"):
            table.add_column(column)
        for e in everyone:
            table.add_row(
                e.primary_code, e.name, _roles_text(e.roles), ", ".join(e.codes[1:]), e.district or ""
            )
        _out.print(table)
        return

    def detail(conn: Connection) -> tuple[enterprises.Enterprise, dict[str, list[dict[str, object]]]]:
        found = enterprises.get_enterprise(conn, code)
        if found is None:
            raise FilingError(f"未备案的企业或账号 {code}", f"no enterprise or account filed under {code}")
        return found, {
            "api_keys": [k.to_json() for k in enterprises.list_api_keys(conn, code)],
            "grants": [g.to_json() for g in enterprises.list_grants(conn, code)],
            "certificates": [c.to_json() for c in enterprises.list_certificates(conn, code)],
        }

    found, credentials = _run(database, detail)
    if as_json:
        _print_json(found.to_json() | credentials)
        return
    codes = ", ".join(found.codes)
    print(f"{found.primary_code} {found.name} — {_roles_text(found.roles)}; codes 代码: {codes}")
    if found.district:
        print(f"district 关区: {found.district}")
    titles = {"api_keys": "API keys 密钥", "grants": "grants 授权", "certificates": "certificates 证书"}
    for key_, rows in credentials.items():
        print(f"{titles[key_]}: {len(rows)}")
        for row in rows:
            print("  " + json.dumps(row, ensure_ascii=False))


@app.command()
def key(
    code: Annotated[str, typer.Argument(help="any code of the enterprise (or the account name)")],
    label: Annotated[str, typer.Option(help="what the key is for, e.g. 'order gateway'")] = "",
    expires: Annotated[
        str | None, typer.Option(help="expiry, YYYY-MM-DD[THH:MM:SS] (UTC unless a zone is given)")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Issue an API key.  It is printed once and cannot be shown again: only its hash is stored."""
    from cbec.store import enterprises

    expires_at = _moment(expires, "--expires")
    issued = _run(
        database, lambda conn: enterprises.issue_api_key(conn, code, label=label, expires_at=expires_at)
    )
    if as_json:
        _print_json(issued.info.to_json() | {"key": issued.key})
        return
    print(issued.key)
    _err.print(
        f"API key {issued.info.prefix} for {issued.info.enterprise}: shown once, store it now "
        "/ 密钥只显示这一次，请立即妥善保存",
        highlight=False,
    )


@app.command()
def grant(
    owner: Annotated[str, typer.Argument(help="the enterprise whose codes are granted")],
    grantee: Annotated[str, typer.Argument(help="the enterprise that may use them")],
    role: Annotated[str, typer.Option(help="the owner's role the grantee may act in (ebp, ebc, …)")],
    message: Annotated[
        list[str] | None,
        typer.Option(help="message type it covers, e.g. CEB621 (repeatable; default: all)"),
    ] = None,
    valid_from: Annotated[str | None, typer.Option("--from", help="start, YYYY-MM-DD[THH:MM:SS]")] = None,
    expires: Annotated[str | None, typer.Option(help="expiry, YYYY-MM-DD[THH:MM:SS]")] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Let GRANTEE act in OWNER's ROLE under OWNER's codes (委托授权).

    E.g. an e-commerce enterprise entrusting its declaring agent with its lists:
    --role ebc --message CEB621 --message CEB623 --message CEB625.
    """
    from cbec.store import enterprises

    with _filing_errors():
        parsed = parse_role(role)
    start, end = _moment(valid_from, "--from"), _moment(expires, "--expires")
    given = _run(
        database,
        lambda conn: enterprises.add_grant(
            conn,
            owner=owner,
            grantee=grantee,
            role=parsed,
            message_types=message or (),
            valid_from=start,
            expires_at=end,
        ),
    )
    if as_json:
        _print_json(given.to_json())
        return
    scope = ", ".join(given.message_types) or "all message types 全部报文"
    until = f" until {given.expires_at.isoformat()}" if given.expires_at else ""
    print(
        f"grant 授权 #{given.id}: {given.grantee} may act as {given.owner}'s {given.role.value} "
        f"({role_label(given.role)[0]}) for {scope}{until}"
    )


class RevokeKind(StrEnum):
    key = "key"
    grant = "grant"
    cert = "cert"


@app.command()
def revoke(
    kind: Annotated[RevokeKind, typer.Argument(help="key, grant or cert")],
    ident: Annotated[str, typer.Argument(help="the key's prefix, or the grant's / certificate's id")],
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Revoke an API key, a grant or a certificate (the record is kept, marked revoked)."""
    from cbec.store import enterprises

    if kind is RevokeKind.key:
        prefix = ident.split("_")[1] if ident.startswith("cbec_") and ident.count("_") >= 2 else ident
        done = _run(database, lambda conn: enterprises.revoke_api_key(conn, prefix))
    else:
        if not ident.isdigit():
            raise _fail(f"{kind.value} 的编号须为数字", f"a {kind.value} id is a number, got {ident!r}")
        number = int(ident)
        revoke_one = enterprises.revoke_grant if kind is RevokeKind.grant else enterprises.revoke_certificate
        done = _run(database, lambda conn: revoke_one(conn, number))
    if not done:
        raise _fail(
            f"没有可撤销的 {kind.value} {ident}（不存在或已撤销）",
            f"no {kind.value} {ident} to revoke (unknown or revoked already)",
        )
    print(f"revoked 已撤销: {kind.value} {ident}")


@app.command()
def cert(
    code: Annotated[str, typer.Argument(help="any code of the enterprise")],
    pem_file: Annotated[Path, typer.Argument(help="the certificate, PEM (-----BEGIN CERTIFICATE-----)")],
    key_name: Annotated[
        str | None, typer.Option(help="the KeyName its signatures carry (e-port card id, e.g. 0001)")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Register a signing certificate (RSA or SM2) for an enterprise."""
    from cbec.store import enterprises

    try:
        pem = pem_file.read_bytes()
    except OSError as exc:
        raise _fail(
            f"无法读取 {pem_file}：{exc.strerror}", f"cannot read {pem_file}: {exc.strerror}"
        ) from None
    record = _run(database, lambda conn: enterprises.add_certificate(conn, code, pem, key_name=key_name))
    if as_json:
        _print_json(record.to_json())
        return
    i = record.info
    print(
        f"certificate 证书 #{record.id} for {record.enterprise}: {i.algorithm} serial {i.serial} "
        f"valid {i.not_before:%Y-%m-%d} – {i.not_after:%Y-%m-%d}, {i.subject}"
    )
