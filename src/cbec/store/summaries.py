"""The stored monthly summary declarations: what was summarised, into which declaration, and who may see it.

Writes happen only through :func:`cbec.engine.summary.summarise`, in one transaction with the reading of what
was summarised before (:func:`summarised`), so that a list line is never summarised twice: the primary key
of ``summary_list_line`` is the list line itself, and a second, concurrent run that slipped past the check
fails on it and writes nothing.

Quantities and values are stored as integers × 10^5 (the lists' N19,5 exactly: SQLite has no exact decimal
type); :func:`load_summary` turns them back into the rule's ``Decimal`` frames, so a stored application
exports to CSV, Excel and CEB XML exactly as the rule produced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import ColumnElement, Connection, false, func, insert, or_, select, true

from cbec.rights import Principal, Role
from cbec.rights.read import read_scope
from cbec.rules.summary import AMOUNT_DTYPE, Summary
from cbec.store._common import chunks
from cbec.store.schema import (
    export_list,
    summary_application,
    summary_declaration,
    summary_declaration_line,
    summary_list_line,
)

__all__ = [
    "SummaryScope",
    "application",
    "applications",
    "declaration_lines",
    "declarations",
    "e5",
    "from_e5",
    "load_summary",
    "mapped_lines",
    "periods",
    "scope_of",
    "summarised",
]

_E5 = Decimal(100_000)
_CHINA = ZoneInfo("Asia/Shanghai")


def _china(at: datetime | None) -> datetime | None:
    """Naive China time, as the rule gives clearing times (and Excel wants naive datetimes)."""
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(_CHINA).replace(tzinfo=None)


def e5(value: Decimal | None) -> int | None:
    """An N19,5 amount as an exact integer of 10^-5 units (None stays None)."""
    return None if value is None else int((Decimal(value) * _E5).to_integral_value())


def from_e5(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / _E5).quantize(Decimal("0.00001"))


@dataclass(frozen=True, slots=True)
class SummaryScope:
    """Which applications a reader sees: all (administrators), a customs district (officers: the
    application's customs code), or its own codes as consignor (``ebcCode``) or declaring agent."""

    everything: bool = False
    codes: frozenset[str] = frozenset()
    district: str | None = None

    def where(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        tests: list[ColumnElement[bool]] = []
        if self.codes:
            codes = sorted(self.codes)
            tests += [summary_application.c.ebc_code.in_(codes), summary_application.c.agent_code.in_(codes)]
        if self.district:
            if self.district.endswith("00"):
                tests.append(summary_application.c.customs_code.like(f"{self.district[:2]}%"))
            else:
                tests.append(summary_application.c.customs_code == self.district)
        return or_(*tests) if tests else false()

    def covers(self, ebc_code: str, agent_code: str, customs_code: str) -> bool:
        if self.everything or ebc_code in self.codes or agent_code in self.codes:
            return True
        if self.district:
            if self.district.endswith("00"):
                return customs_code[:2] == self.district[:2]
            return customs_code == self.district
        return False


def scope_of(principal: Principal, at: datetime) -> SummaryScope:
    """The read rule of the documents (:mod:`cbec.rights.read`) applied to CEB701 applications: codes of
    one's own or granted for the consignor/agent fields, the district for officers, everything for admins."""
    scope = read_scope(principal, at)
    if scope.everything:
        return SummaryScope(everything=True)
    codes = set(scope.codes)
    for g in scope.granted:
        if (not g.message_types or "CEB701Message" in g.message_types) and (
            {"ebcCode", "agentCode", "declAgentCode"} & set(g.fields)
        ):
            codes |= g.codes
    district = scope.district if Role.OFFICER in principal.roles else None
    return SummaryScope(codes=frozenset(codes), district=district)


# --------------------------------------------------------------------------------------------------- reads


def summarised(conn: Connection, invt_nos: Iterable[str]) -> pl.DataFrame:
    """Lists already in an application (invtNo, period, ebcCode, supplement): the rule's ``already``."""
    found: list[tuple[Any, ...]] = []
    for part in chunks(sorted(set(invt_nos)), 2_000):
        found += [
            tuple(r)
            for r in conn.execute(
                select(
                    summary_list_line.c.invt_no,
                    summary_application.c.period,
                    summary_application.c.ebc_code,
                    summary_application.c.supplement,
                )
                .distinct()
                .join(summary_application, summary_application.c.id == summary_list_line.c.application_id)
                .where(summary_list_line.c.invt_no.in_(part))
            )
        ]
    return pl.DataFrame(
        found,
        schema={"invtNo": pl.String, "period": pl.String, "ebcCode": pl.String, "supplement": pl.Int32},
        orient="row",
    )


def periods(conn: Connection, scope: SummaryScope) -> list[dict[str, Any]]:
    """Months with applications the reader sees, newest first, with their counts."""
    rows = conn.execute(
        select(
            summary_application.c.period,
            func.count().label("applications"),
            func.sum(summary_application.c.lists).label("lists"),
            func.sum(summary_application.c.declarations).label("declarations"),
            func.max(summary_application.c.supplement).label("supplements"),
        )
        .where(scope.where())
        .group_by(summary_application.c.period)
        .order_by(summary_application.c.period.desc())
    ).all()
    return [dict(r._mapping) for r in rows]


def applications(
    conn: Connection, scope: SummaryScope, *, period: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Applications (newest period first, then consignor and supplement)."""
    stmt = select(summary_application).where(scope.where())
    if period is not None:
        stmt = stmt.where(summary_application.c.period == period)
    stmt = stmt.order_by(
        summary_application.c.period.desc(),
        summary_application.c.ebc_code,
        summary_application.c.supplement,
    ).limit(limit)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def application(conn: Connection, sum_no: str) -> dict[str, Any] | None:
    row = conn.execute(select(summary_application).where(summary_application.c.sum_no == sum_no)).first()
    return dict(row._mapping) if row is not None else None


def declarations(conn: Connection, application_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(summary_declaration)
        .where(summary_declaration.c.application_id.in_(list(application_ids)))
        .order_by(summary_declaration.c.application_id, summary_declaration.c.decl_no)
    )
    return [dict(r._mapping) for r in rows]


def declaration_lines(conn: Connection, declaration_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(summary_declaration_line)
        .where(summary_declaration_line.c.declaration_id.in_(list(declaration_ids)))
        .order_by(summary_declaration_line.c.declaration_id, summary_declaration_line.c.gseqno)
    )
    return [dict(r._mapping) for r in rows]


def mapped_lines(
    conn: Connection, declaration_ids: Sequence[int], gseqno: int | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The list lines summarised into these declarations (or one of their lines), with the list's status."""
    stmt = (
        select(
            summary_list_line.c.declaration_id,
            summary_list_line.c.gseqno,
            summary_list_line.c.invt_no,
            summary_list_line.c.gnum,
            summary_list_line.c.gcode,
            summary_list_line.c.logistics_no,
            export_list.c.status,
            export_list.c.order_no,
            export_list.c.ebp_code,
            export_list.c.cleared_at,
        )
        .join(export_list, export_list.c.invt_no == summary_list_line.c.invt_no, isouter=True)
        .where(summary_list_line.c.declaration_id.in_(list(declaration_ids)))
        .order_by(
            summary_list_line.c.declaration_id,
            summary_list_line.c.gseqno,
            summary_list_line.c.invt_no,
            summary_list_line.c.gnum,
        )
    )
    if gseqno is not None:
        stmt = stmt.where(summary_list_line.c.gseqno == gseqno)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [dict(r._mapping) for r in conn.execute(stmt)]


# --------------------------------------------------------------------------------------------------- writes


def insert_application(conn: Connection, row: Mapping[str, Any]) -> int:
    return int(
        conn.execute(
            insert(summary_application).values(**row).returning(summary_application.c.id)
        ).scalar_one()
    )


def insert_declaration(conn: Connection, row: Mapping[str, Any]) -> int:
    return int(
        conn.execute(
            insert(summary_declaration).values(**row).returning(summary_declaration.c.id)
        ).scalar_one()
    )


def insert_rows(conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    for part in chunks(list(rows), 5_000):
        conn.execute(insert(table), list(part))


# --------------------------------------------------------------------------------------------------- frames


def load_summary(conn: Connection, application_ids: Sequence[int]) -> Summary:
    """Stored applications as the rule's :class:`Summary` frames (for CSV, Excel and CEB792)."""
    apps = {
        r.id: r
        for r in conn.execute(
            select(summary_application).where(summary_application.c.id.in_(list(application_ids)))
        )
    }
    decls = declarations(conn, list(apps))
    by_id = {d["id"]: d for d in decls}
    head = [
        {
            "period": apps[d["application_id"]].period,
            "ebcCode": apps[d["application_id"]].ebc_code,
            "supplement": apps[d["application_id"]].supplement,
            "declNo": d["decl_no"],
            "declSeqNo": d["decl_seq_no"],
            "trafMode": d["traf_mode"],
            "arrivalCountry": d["arrival_country"],
            "portCode": d["port_code"],
            "tradeMode": d["trade_mode"],
            "ownerCode": d["owner_code"],
            "ebcName": apps[d["application_id"]].ebc_name,
            "ownerName": d["owner_name"],
            "lists": d["lists"],
            "lines": d["lines"],
            "grossWeight": from_e5(d["gross_weight_e5"]),
            "netWeight": from_e5(d["net_weight_e5"]),
            "cleared_from": _china(d["cleared_from"]),
            "cleared_to": _china(d["cleared_to"]),
        }
        for d in decls
    ]
    key_of = {
        d["id"]: (h["period"], h["ebcCode"], h["supplement"], h["declNo"])
        for d, h in zip(decls, head, strict=True)
    }
    lines = [
        {
            **dict(
                zip(("period", "ebcCode", "supplement", "declNo"), key_of[x["declaration_id"]], strict=True)
            ),
            "gseqno": x["gseqno"],
            "destinationCountry": x["destination_country"],
            "gcode": x["gcode"],
            "currency": x["currency"],
            "itemName": x["item_name"],
            "gname": x["gname"],
            "unit": x["unit"],
            "qty": from_e5(x["qty_e5"]),
            "unit1": x["unit1"],
            "qty1": from_e5(x["qty1_e5"]),
            "unit2": x["unit2"],
            "qty2": from_e5(x["qty2_e5"]),
            "totalPrice": from_e5(x["total_price_e5"]),
            "lists": x["lists"],
            "lines": x["lines"],
        }
        for x in declaration_lines(conn, list(by_id))
    ]
    mapping = [
        {
            "invtNo": m["invt_no"],
            "gnum": m["gnum"],
            "gcode": m["gcode"],
            "logisticsNo": m["logistics_no"],
            **dict(
                zip(("period", "ebcCode", "supplement", "declNo"), key_of[m["declaration_id"]], strict=True)
            ),
            "gseqno": m["gseqno"],
        }
        for m in mapped_lines(conn, list(by_id))
    ]
    app_schema: dict[str, Any] = {
        "period": pl.String,
        "ebcCode": pl.String,
        "supplement": pl.Int32,
        "declNo": pl.Int32,
    }
    decl_schema = {
        **app_schema,
        "declSeqNo": pl.String,
        "trafMode": pl.String,
        "arrivalCountry": pl.String,
        "portCode": pl.String,
        "tradeMode": pl.String,
        "ownerCode": pl.String,
        "ebcName": pl.String,
        "ownerName": pl.String,
        "lists": pl.UInt32,
        "lines": pl.UInt32,
        "grossWeight": AMOUNT_DTYPE,
        "netWeight": AMOUNT_DTYPE,
        "cleared_from": pl.Datetime("us"),
        "cleared_to": pl.Datetime("us"),
    }
    line_schema = {
        **app_schema,
        "gseqno": pl.Int32,
        "destinationCountry": pl.String,
        "gcode": pl.String,
        "currency": pl.String,
        "itemName": pl.String,
        "gname": pl.String,
        "unit": pl.String,
        "qty": AMOUNT_DTYPE,
        "unit1": pl.String,
        "qty1": AMOUNT_DTYPE,
        "unit2": pl.String,
        "qty2": AMOUNT_DTYPE,
        "totalPrice": AMOUNT_DTYPE,
        "lists": pl.UInt32,
        "lines": pl.UInt32,
    }
    map_schema = {
        "invtNo": pl.String,
        "gnum": pl.Int32,
        "gcode": pl.String,
        "logisticsNo": pl.String,
        **app_schema,
        "gseqno": pl.Int32,
    }
    excluded = pl.DataFrame(schema={"invtNo": pl.String, "ebcCode": pl.String, "reason": pl.String})
    return Summary(
        pl.DataFrame(head, schema=decl_schema, orient="row"),
        pl.DataFrame(lines, schema=line_schema, orient="row"),
        pl.DataFrame(mapping, schema=map_schema, orient="row"),
        excluded,
    )
