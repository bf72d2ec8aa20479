"""Bonded ledgers for synthetic traffic: file each 1210 zone's ledger with the first-line stock its lists
need, with one planted shortage, so a demo (or a test) shows lists held by the ledger and released by a
replenishment.

The stock is read off the generated CEB621 messages themselves (the generator's item record numbers depend
on the basket), so it fits whatever day was generated.  The planted shortage is the item with the most
lists: it is stocked for all of them but the last in arrival order, whose list is held (at least; a held list
takes nothing, so a later smaller one may still fit) until :func:`replenish` enters what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import polars as pl
from sqlalchemy import Connection

from cbec.engine import ledger as E
from cbec.messages.columns import decode_batch
from cbec.rights import Role
from cbec.rules import ledger as R
from cbec.sim.parties import BONDED_ZONES
from cbec.store import enterprises
from cbec.store import ledgers as repo


@dataclass(frozen=True, slots=True)
class ItemDemand:
    gcode: str
    unit1: str
    name: str
    total: int
    """Legal quantity the day's lists need, in 1/100000 units."""
    last: int
    """The last list's quantity (what the planted shortage leaves out)."""
    lists: int


@dataclass
class Stocking:
    demand: dict[tuple[str, str], ItemDemand]
    short: tuple[str, str] | None
    """(emsNo, itemRecordNo) of the planted shortage, if any."""
    missing: int = 0


def bonded_demand(messages: Iterable[bytes]) -> dict[tuple[str, str], ItemDemand]:
    """What the 1210 lists among ``messages`` need, per (emsNo, itemRecordNo), in arrival order."""
    batch = decode_batch(list(messages))
    heads = batch.tables.get(("CEB621Message", "InventoryHead"))
    lines = batch.tables.get(("CEB621Message", "InventoryList"))
    if heads is None or lines is None or heads.height == 0:
        return {}
    bonded = heads.filter(pl.col("tradeMode") == "1210").select("_msg", "_doc", "emsNo")
    joined = (
        lines.join(bonded, on=["_msg", "_doc"])
        .filter(pl.col("itemRecordNo").is_not_null())
        .sort("_msg", "_doc", "gnum")
        .with_columns(R.scaled(pl.coalesce("qty1", "qty")).alias("units"))
    )
    out: dict[tuple[str, str], ItemDemand] = {}
    for (ems, item), part in joined.group_by(["emsNo", "itemRecordNo"], maintain_order=True):
        first = part.row(0, named=True)
        out[(str(ems), str(item))] = ItemDemand(
            str(first["gcode"]),
            str(first["unit1"]),
            str(first["gname"] or item)[:250],
            int(part["units"].sum()),
            int(part["units"][-1]),
            part.height,
        )
    return out


def file_zone_ledgers(
    conn: Connection,
    demand: dict[tuple[str, str], ItemDemand],
    *,
    at: datetime,
    shortage: bool = True,
    actor: str = "sim",
) -> Stocking:
    """File the zones' operators (if needed) and ledgers, and enter the day's stock (one entry per zone)."""
    short = max(demand, key=lambda k: (demand[k].lists, k)) if (shortage and demand) else None
    stocking = Stocking(demand, short)
    for customs, _port, zone, name, ems in BONDED_ZONES:
        if enterprises.get_enterprise(conn, zone) is None:
            enterprises.register_enterprise(conn, code=zone, name=name, roles=[Role.OPERATOR])
        if repo.get_ledger(conn, ems) is None:
            E.file_ledger(conn, ems_no=ems, area_code=zone, customs_code=customs, filed_by=actor, at=at)
        lines = []
        for (e, item), d in sorted(demand.items()):
            if e != ems:
                continue
            units = d.total - (d.last if (e, item) == short else 0)
            if (e, item) == short:
                stocking.missing = d.total - units
            if units > 0:
                lines.append(
                    E.Line(item, Decimal(units) / R.SCALE, gcode=d.gcode, unit1=d.unit1, name=d.name)
                )
            else:
                repo.file_item(conn, repo.get_ledger(conn, ems).id, item_record_no=item, gcode=d.gcode,  # type: ignore[union-attr]
                               name=d.name, unit1=d.unit1)  # fmt: skip
        if lines:
            E.entry(conn, ems, f"SIM-ENTRY-{ems}-{at:%Y%m%d}", lines, actor=actor, at=at)
    return stocking


def replenish(conn: Connection, stocking: Stocking, *, at: datetime, actor: str = "sim") -> E.MoveOutcome:
    """Enter what the planted shortage left out (and a little more): its held lists are released."""
    if stocking.short is None:
        return E.MoveOutcome()
    ems, item = stocking.short
    qty = Decimal(stocking.missing + R.SCALE) / R.SCALE
    return E.entry(
        conn, ems, f"SIM-REPLENISH-{ems}-{at:%Y%m%d%H%M%S}", [E.Line(item, qty)], actor=actor, at=at
    )
