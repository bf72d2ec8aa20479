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


KEYS = {
    "orders": ["order_key"],
    "order_lines": ["order_key", "guid"],
    "payments": ["order_key"],
    "waybills": ["waybill_key"],
    "lists": ["list_key", "waybill_key"],
    "list_lines": ["list_key", "list_guid"],
}


def empty_kind(kind: str) -> pl.DataFrame:
    """An empty frame with every column a kind has, so joins and filters need no special case."""
    from cbec.messages.fieldcheck import empty_frame
    from cbec.messages.spec import message_spec

    mtype, entity_name = SOURCES[kind]
    spec = message_spec(mtype)
    entity = spec.head if spec.head.name == entity_name else spec.lines
    assert entity is not None
    frame = empty_frame(entity)
    extra = {
        "msg_guid": pl.String(),
        "sender": pl.String(),
        "sender_dxp": pl.String(),
        "received_at": pl.Datetime("us"),
        "seq": pl.Int64(),
    }
    extra.update({k: pl.String() for k in KEYS[kind] if k not in frame.columns})
    return frame.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in extra.items())


def empty_documents() -> Documents:
    return Documents(*(empty_kind(k) for k in KINDS))


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
            out[kind] = empty_kind(kind)
            continue
        if skip:
            table = table.filter(~pl.col("_msg").is_in(list(skip)))
        table = table.join(meta, on="_msg", how="left").with_columns(
            pl.lit(received_at).cast(pl.Datetime("us")).alias("received_at"),
            (pl.lit(seq_base) + pl.col("_msg").cast(pl.Int64) * 1000 + pl.col("_doc").cast(pl.Int64)).alias(
                "seq"
            ),
        )
        out[kind] = table
    o, ol, p, w, li, ll = (out[k] for k in KINDS)
    if "order_key" not in o.columns:
        o = o.with_columns(order_key().alias("order_key"))
    if "order_key" not in p.columns:
        p = p.with_columns(order_key().alias("order_key"))
    if "waybill_key" not in w.columns:
        w = w.with_columns(waybill_key().alias("waybill_key"))
    if "list_key" not in li.columns:
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
