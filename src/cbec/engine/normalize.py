"""From decoded column batches to the frames the rules work on.

The codec gives one table per (message type, entity); the engine wants orders, payments, waybills and lists
with their business keys (order_key = ebpCode|orderNo, waybill_key = logisticsCode|logisticsNo, list_key =
ebpCode|orderNo), the guid and sender of the message they came in, and an arrival sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import polars as pl

from cbec.messages.columns import ColumnBatch
from cbec.rules.matching import order_key, waybill_key

KINDS = ("orders", "order_lines", "payments", "waybills", "lists", "list_lines")
SOURCES = {
    "orders": ("CEB311Message", "OrderHead"),
    "order_lines": ("CEB311Message", "OrderList"),
    "payments": ("CEB411Message", "PaymentHead"),
    "waybills": ("CEB511Message", "LogisticsHead"),
    "lists": ("CEB621Message", "InventoryHead"),
    "list_lines": ("CEB621Message", "InventoryList"),
}


@dataclass
class Documents:
    """Import documents as frames (new ones in a batch, or those waiting from earlier batches)."""

    orders: pl.DataFrame
    order_lines: pl.DataFrame
    payments: pl.DataFrame
    waybills: pl.DataFrame
    lists: pl.DataFrame
    list_lines: pl.DataFrame

    def concat(self, other: Documents) -> Documents:
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            out[f.name] = (
                pl.concat([a, b], how="diagonal_relaxed") if a.height and b.height else (a if a.height else b)
            )
        return Documents(**out)

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name).height == 0 for f in fields(self))


def _empty(columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String() for c in columns})


def from_batch(
    batch: ColumnBatch, *, received_at: datetime, seq_base: int = 0, rejected: set[int] | None = None
) -> Documents:
    """Normalise the import documents of a decoded batch; messages in ``rejected`` are left out."""
    skip = rejected if rejected is not None else batch.rejected()
    meta = batch.messages.select(
        "_msg",
        pl.col("guid").alias("msg_guid"),
        pl.col("copCode").alias("sender"),
        pl.col("dxpId").alias("sender_dxp"),
    )
    out: dict[str, pl.DataFrame] = {}
    for kind, key in SOURCES.items():
        table = batch.tables.get(key)
        if table is None or table.height == 0:
            out[kind] = _empty(["_msg", "_doc", "_line"])
            continue
        if skip:
            table = table.filter(~pl.col("_msg").is_in(list(skip)))
        table = table.join(meta, on="_msg", how="left").with_columns(
            pl.lit(received_at).alias("received_at"),
            (pl.lit(seq_base) + pl.col("_msg").cast(pl.Int64) * 1000 + pl.col("_doc").cast(pl.Int64)).alias(
                "seq"
            ),
        )
        out[kind] = table
    o, ol, p, w, li, ll = (out[k] for k in KINDS)
    if o.height:
        o = o.with_columns(order_key().alias("order_key"))
    if p.height:
        p = p.with_columns(order_key().alias("order_key"))
    if w.height:
        w = w.with_columns(waybill_key().alias("waybill_key"))
    if li.height:
        li = li.with_columns(order_key().alias("list_key"), waybill_key().alias("waybill_key"))
    # lines inherit the business key of their head (same message, same document)
    if ol.height and o.height:
        ol = ol.join(o.select("_msg", "_doc", "order_key", "guid"), on=["_msg", "_doc"], how="left")
    if ll.height and li.height:
        ll = ll.join(
            li.select("_msg", "_doc", "list_key", pl.col("guid").alias("list_guid")),
            on=["_msg", "_doc"],
            how="left",
        )
    return Documents(o, ol, p, w, li, ll)
