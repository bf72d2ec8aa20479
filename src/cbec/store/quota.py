"""The annual per-buyer quota (CNY 26,000 a year): a ledger of movements and a running total, in fen.

Every movement is keyed by ``(list_key, kind)``, so a list accepted twice, or cancelled twice, counts once.
The running total is changed only by the movements this call actually inserted (``RETURNING``), with an
atomic ``INSERT … ON CONFLICT DO UPDATE SET used_fen = quota.used_fen + excluded.used_fen``: never
read-modify-write, so two processes applying movements for the same buyer at the same time cannot lose an
update.  ``quota.used_fen`` always equals the sum of that buyer-year's movements.

``buyer_key`` must be a 64-hex-digit hash of the buyer's ID number: the number itself never reaches this
table, and values that do not look like a hash are refused.  (Chinese ID numbers are few enough to be
brute-forced from a plain SHA-256; the caller should use a keyed hash such as HMAC-SHA-256 with an
operator secret.)
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, func, select

from cbec.store._common import Upsert, bulk_insert, check_len, chunks, utcnow
from cbec.store.bulk import frame_rows, insert_frame, sqlite_time
from cbec.store.db import driver_cursor, fetch_rows
from cbec.store.schema import QUOTA_MOVEMENT_KINDS, quota, quota_movement

_BUYER_KEY = re.compile(r"[0-9a-f]{64}")
_NEW_MOVEMENTS_SQLITE = "SELECT buyer_key, year, amount_fen FROM quota_movement WHERE id > ? ORDER BY id"
_ADD_TO_TOTAL_SQLITE = (
    "INSERT INTO quota (buyer_key, year, used_fen, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (buyer_key, year) "
    "DO UPDATE SET used_fen = quota.used_fen + excluded.used_fen, updated_at = excluded.updated_at"
)
_USED_SQLITE = (
    "SELECT buyer_key, used_fen FROM quota WHERE year = ? AND buyer_key IN (SELECT value FROM json_each(?))"
)


@dataclass(frozen=True, slots=True)
class QuotaMovement:
    buyer_key: str
    year: int
    list_key: str
    kind: str
    """``accept`` (amount ≥ 0), ``cancel`` or ``return`` (amount ≤ 0)."""
    amount_fen: int
    created_at: datetime | None = None


def _check(m: QuotaMovement) -> None:
    if not _BUYER_KEY.fullmatch(m.buyer_key):
        raise ValueError("buyer_key must be 64 lowercase hex digits (a hash), never the ID number itself")
    check_len("list_key", m.list_key, 200)
    if m.kind not in QUOTA_MOVEMENT_KINDS:
        raise ValueError(f"kind must be one of {QUOTA_MOVEMENT_KINDS}, not {m.kind!r}")
    if (m.kind == "accept" and m.amount_fen < 0) or (m.kind != "accept" and m.amount_fen > 0):
        raise ValueError(f"{m.kind} movement of {m.amount_fen} fen for {m.list_key!r}: wrong sign")


def used(conn: Connection, buyer_keys: Iterable[str], year: int) -> dict[str, int]:
    """Fen used in ``year`` by each buyer asked about (0 for buyers with no movement)."""
    keys = sorted(set(buyer_keys))
    found = dict.fromkeys(keys, 0)
    if conn.dialect.name == "sqlite" and keys:
        # one JSON array parameter rather than one bound parameter per buyer (see documents.existing_keys)
        found.update({key: int(fen) for key, fen in fetch_rows(conn, _USED_SQLITE, (year, json.dumps(keys)))})
        return found
    for part in chunks(keys):
        stmt = select(quota.c.buyer_key, quota.c.used_fen).where(
            quota.c.year == year, quota.c.buyer_key.in_(part)
        )
        found.update({key: int(fen) for key, fen in conn.execute(stmt)})
    return found


def apply(conn: Connection, movements: Sequence[QuotaMovement]) -> int:
    """Record new movements and add them to the totals; return how many were new.

    Totals are updated in ``(buyer_key, year)`` order so that two PostgreSQL transactions touching the
    same buyers lock their rows in the same order and cannot deadlock.
    """
    if not movements:
        return 0
    now = utcnow()
    params = []
    for m in movements:
        _check(m)
        params.append(
            {
                "buyer_key": m.buyer_key,
                "year": m.year,
                "list_key": m.list_key,
                "kind": m.kind,
                "amount_fen": m.amount_fen,
                "created_at": m.created_at or now,
            }
        )
    returned = bulk_insert(
        conn,
        quota_movement,
        params,
        on_conflict=lambda stmt: stmt.on_conflict_do_nothing(
            index_elements=[quota_movement.c.list_key, quota_movement.c.kind]
        ),
        returning=[quota_movement.c.buyer_key, quota_movement.c.year, quota_movement.c.amount_fen],
    )
    deltas: dict[tuple[str, int], int] = defaultdict(int)
    for buyer_key, year, amount in returned:
        deltas[(buyer_key, year)] += int(amount)
    totals = [
        {"buyer_key": buyer_key, "year": year, "used_fen": delta, "updated_at": now}
        for (buyer_key, year), delta in sorted(deltas.items())
    ]
    bulk_insert(conn, quota, totals, on_conflict=_add_to_total)
    return len(returned)


def _add_to_total(stmt: Upsert) -> Upsert:
    """``ON CONFLICT (buyer_key, year) DO UPDATE SET used_fen = quota.used_fen + excluded.used_fen``."""
    return stmt.on_conflict_do_update(
        index_elements=[quota.c.buyer_key, quota.c.year],
        set_={"used_fen": quota.c.used_fen + stmt.excluded.used_fen, "updated_at": stmt.excluded.updated_at},
    )


def apply_frame(conn: Connection, frame: pl.DataFrame) -> int:
    """:func:`apply` for a frame of movements (``buyer_key, year, list_key, kind, amount_fen``): the hot path.

    On SQLite the transaction holds the only write lock (``BEGIN IMMEDIATE``), so the movements this call
    inserted are exactly the ledger rows above the highest id seen before it; they are summed per buyer-year
    and added with one ``INSERT … ON CONFLICT DO UPDATE`` per total.  PostgreSQL, where other transactions may
    insert concurrently, goes through :func:`apply` and its ``RETURNING``.
    """
    if frame.height == 0:
        return 0
    if conn.dialect.name != "sqlite":  # apply() checks each movement itself
        return apply(conn, [QuotaMovement(**row) for row in frame.to_dicts()])
    # the checks of _check, over the whole column at once
    bad = frame.filter(~pl.col("buyer_key").str.contains(f"^{_BUYER_KEY.pattern}$"))
    if bad.height:
        raise ValueError("buyer_key must be 64 lowercase hex digits (a hash), never the ID number itself")
    wrong_kind = frame.filter(~pl.col("kind").is_in(list(QUOTA_MOVEMENT_KINDS)))
    if wrong_kind.height:
        raise ValueError(f"kind must be one of {QUOTA_MOVEMENT_KINDS}, not {wrong_kind['kind'][0]!r}")
    wrong_sign = frame.filter(
        ((pl.col("kind") == "accept") & (pl.col("amount_fen") < 0))
        | ((pl.col("kind") != "accept") & (pl.col("amount_fen") > 0))
    )
    if wrong_sign.height:
        raise ValueError(f"wrong sign for movement of {wrong_sign['list_key'][0]!r}")
    now = utcnow()
    before = conn.execute(select(func.coalesce(func.max(quota_movement.c.id), 0))).scalar_one()
    insert_frame(
        conn,
        quota_movement,
        frame.with_columns(pl.lit(now).dt.convert_time_zone("UTC").alias("created_at")),
        ignore_conflicts=True,
    )
    # The movements just inserted, read back by id (a range at the end of the table), summed here and added
    # to the totals one buyer-year per statement, in key order.  A single ``INSERT … SELECT … GROUP BY``
    # did the same inside SQLite, but a statement that changes thousands of rows keeps a statement journal
    # of every page it touches and sorts through a temporary file: at a million parcels it cost twice this.
    new = pl.DataFrame(
        fetch_rows(conn, _NEW_MOVEMENTS_SQLITE, (before,)),
        schema={"buyer_key": pl.String(), "year": pl.Int64(), "amount_fen": pl.Int64()},
        orient="row",
    )
    totals = (
        new.group_by("buyer_key", "year")
        .agg(pl.col("amount_fen").sum())
        .sort("buyer_key", "year")
        .with_columns(sqlite_time(pl.lit(now)).alias("updated_at"))
    )
    with driver_cursor(conn) as cursor:
        cursor.executemany(_ADD_TO_TOTAL_SQLITE, frame_rows(totals))
    return new.height
