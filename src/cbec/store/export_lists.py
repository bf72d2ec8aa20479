"""Export lists cleared (结关, 899) in a time window, as the monthly summary declaration consumes them.

:func:`cleared_lists` returns two Polars frames with the CEB603 field names — heads (``InventoryHead``) and
lines (``InventoryList``) — plus ``invtNo`` (assigned by cbec), ``clearedAt`` (when the departure cleared the
list, timezone-aware UTC) and ``leaveTime``; lines carry ``invtNo`` and ``gnum`` to join.  The lists are read
back from their raw CEB603 messages in the inbox (the record), so every field the enterprise declared is
there; transport fields left empty on the list (``trafName``, ``voyageNo``, ``billNo``, ``totalPackageNo``,
which §6.1 lets a CEB607 supply later) are filled from the master/sub-bill.  Cancelled lists never reach 899.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import Connection, select

from cbec.messages.columns import decode_batch
from cbec.store import inbox as inbox_repo
from cbec.store._common import chunks
from cbec.store.schema import export_bill_line, export_list

CLEARED = 899


def cleared_lists(conn: Connection, start: datetime, end: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lists cleared at or after ``start`` and before ``end`` (aware datetimes): (heads, lines)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    rows = conn.execute(
        select(
            export_list.c.guid,
            export_list.c.invt_no,
            export_list.c.waybill_key,
            export_list.c.inbox_id,
            export_list.c.cleared_at,
            export_list.c.leave_time,
        )
        .where(
            export_list.c.status == CLEARED,
            export_list.c.cleared_at >= start,
            export_list.c.cleared_at < end,
        )
        .order_by(export_list.c.cleared_at, export_list.c.id)
    ).all()
    if not rows:
        return pl.DataFrame(), pl.DataFrame()
    keys = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "guid": pl.String(),
            "invtNo": pl.String(),
            "_waybill_key": pl.String(),
            "_inbox_id": pl.Int64(),
            "clearedAt": pl.Datetime("us", "UTC"),
            "leaveTime": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    heads_parts, lines_parts = [], []
    for part in chunks(sorted(set(keys["_inbox_id"].to_list())), 2_000):
        raws = inbox_repo.raw_by_ids(conn, part)
        ids = sorted(raws)
        batch = decode_batch([raws[i] for i in ids], check_codes=False)
        heads = batch.tables.get(("CEB603Message", "InventoryHead"))
        if heads is None or heads.height == 0:
            continue
        # the number is the one cbec assigned (the declarant sends the list without one)
        heads = (
            heads.drop("invtNo", strict=False).join(keys, on="guid", how="inner").unique("guid", keep="first")
        )
        lines = batch.tables.get(("CEB603Message", "InventoryList"))
        if lines is not None and lines.height:
            lines_parts.append(
                lines.join(heads.select("_msg", "_doc", "invtNo"), on=["_msg", "_doc"], how="inner")
            )
        heads_parts.append(heads)
    heads = pl.concat(heads_parts, how="diagonal_relaxed")
    lines = pl.concat(lines_parts, how="diagonal_relaxed") if lines_parts else pl.DataFrame()
    heads = _with_master_bills(conn, heads)
    drop = ["_msg", "_doc", "_line", "_waybill_key", "_inbox_id"]
    heads = heads.drop([c for c in drop if c in heads.columns]).sort("clearedAt", "invtNo")
    if lines.height:
        lines = lines.drop([c for c in drop if c in lines.columns]).sort("invtNo", "gnum")
    return heads, lines


def _with_master_bills(conn: Connection, heads: pl.DataFrame) -> pl.DataFrame:
    """Transport fields the list left empty, from the CEB607 line of its parcel (the latest)."""
    found = []
    for part in chunks(sorted(set(heads["_waybill_key"].to_list()))):
        found += [
            tuple(r)
            for r in conn.execute(
                select(
                    export_bill_line.c.waybill_key,
                    export_bill_line.c.traf_name,
                    export_bill_line.c.voyage_no,
                    export_bill_line.c.bill_no,
                    export_bill_line.c.total_package_no,
                )
                .where(export_bill_line.c.waybill_key.in_(part))
                .order_by(export_bill_line.c.id)
            )
        ]
    if not found:
        return heads
    bills = pl.DataFrame(
        found,
        schema={n: pl.String() for n in ("_waybill_key", "_trafName", "_voyageNo", "_billNo", "_pkg")},
        orient="row",
    ).unique("_waybill_key", keep="last")
    out = heads.join(bills, on="_waybill_key", how="left")

    def fill(name: str, source: str) -> pl.Expr:
        own = pl.col(name).cast(pl.String) if name in out.columns else pl.lit(None, pl.String)
        return (
            pl.when(own.is_null() | (own.str.strip_chars() == ""))
            .then(pl.col(source))
            .otherwise(own)
            .alias(name)
        )

    return out.with_columns(
        fill("trafName", "_trafName"),
        fill("voyageNo", "_voyageNo"),
        fill("billNo", "_billNo"),
        fill("totalPackageNo", "_pkg"),
    ).drop("_trafName", "_voyageNo", "_billNo", "_pkg")
