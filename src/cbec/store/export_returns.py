"""Export returns in the store: the operator's registry of cross-district return sites, and a return's
history (application, lines with their tax outcome, tally, master bill) for the API, the CLI and tests.

The site registry is its own table rather than a flag on the enterprise filing: an enterprise filing says
who may *send* which messages (rights), while a return site is customs' acceptance of a *place* — one operator
may run sites under several customs, each with its own dates and conditions (A-2024-167 pilot, the
2026-04-01 announcement: a CBEC retail-export supervised site, an independent return area, system data open
to customs).  It is input: ``rebuild`` keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from cbec.store._common import dialect_insert
from cbec.store.schema import (
    export_return,
    export_return_bill_line,
    export_return_line,
    export_return_site,
    export_return_tally,
)

_CUSTOMS = re.compile(r"^[0-9]{4}$")


class SiteError(ValueError):
    """The filing is refused (nothing was written); ``zh``/``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class Site:
    customs_code: str
    operator_code: str
    name: str
    valid_from: date
    valid_to: date | None = None
    loct_no: str | None = None
    cbec_export: bool = True
    return_area: bool = True
    data_open: bool = True
    note: str | None = None


def file_site(conn: Connection, site: Site, *, by: str, at: datetime | None = None) -> None:
    """File (or re-file, replacing) a return site.  Checks first, so bad input changes nothing."""
    if not _CUSTOMS.match(site.customs_code):
        raise SiteError("关区代码须为4位数字", f"customs code must be 4 digits, got {site.customs_code!r}")
    if not site.operator_code or len(site.operator_code) > 18:
        raise SiteError("经营人代码须为1至18个字符", "operator code must be 1 to 18 characters")
    if not site.name.strip():
        raise SiteError("场所名称不能为空", "the site needs a name")
    if site.valid_to is not None and site.valid_to < site.valid_from:
        raise SiteError("有效期止不能早于有效期起", "valid_to is before valid_from")
    if site.loct_no is not None and len(site.loct_no) > 10:
        raise SiteError("场所代码（loctNo）最多10个字符", "loctNo is at most 10 characters")
    values: dict[str, Any] = {
        "customs_code": site.customs_code,
        "operator_code": site.operator_code,
        "name": site.name.strip()[:200],
        "loct_no": site.loct_no,
        "cbec_export": site.cbec_export,
        "return_area": site.return_area,
        "data_open": site.data_open,
        "valid_from": site.valid_from,
        "valid_to": site.valid_to,
        "filed_by": by[:64],
        "filed_at": at or datetime.now(UTC),
        "note": site.note,
    }
    conn.execute(
        delete(export_return_site).where(
            export_return_site.c.customs_code == site.customs_code,
            export_return_site.c.operator_code == site.operator_code,
        )
    )
    conn.execute(dialect_insert(conn, export_return_site).values(**values))


def sites(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(export_return_site).order_by(
            export_return_site.c.customs_code, export_return_site.c.operator_code
        )
    )
    return [dict(r._mapping) for r in rows]


def history(conn: Connection, invt_no: str) -> list[dict[str, Any]]:
    """Every return application of one original export list, with its lines (tax outcome, refund repaid),
    its parcel's tallies and the master bill lines naming it."""
    out = []
    for app in conn.execute(
        select(export_return).where(export_return.c.invt_no == invt_no).order_by(export_return.c.id)
    ):
        a = dict(app._mapping)
        a["lines"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(export_return_line)
                .where(export_return_line.c.return_guid == a["guid"])
                .order_by(export_return_line.c.gnum)
            )
        ]
        a["tallies"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(export_return_tally).where(export_return_tally.c.waybill_key == a["waybill_key"])
            )
        ]
        a["bill_lines"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(export_return_bill_line).where(
                    export_return_bill_line.c.waybill_key == a["waybill_key"]
                )
            )
        ]
        out.append(a)
    return out


def master_bill(conn: Connection, bill_no: str) -> list[dict[str, Any]]:
    """The parcels of a consolidated return master bill, each with its tally status (None: not tallied)."""
    tallied = {
        r.waybill_key: r.status
        for r in conn.execute(
            select(export_return_tally.c.waybill_key, export_return_tally.c.status).where(
                export_return_tally.c.bill_no == bill_no
            )
        )
    }
    return [
        {**dict(r._mapping), "tally_status": tallied.get(r.waybill_key)}
        for r in conn.execute(
            select(export_return_bill_line)
            .where(export_return_bill_line.c.bill_no == bill_no)
            .order_by(export_return_bill_line.c.gnum)
        )
    ]
