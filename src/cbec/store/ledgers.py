"""The bonded e-ledgers (账册): ledgers, items, movements, holds, stocktakes (CEB711 warehouse entries are in
:mod:`cbec.store.warehouse_entries`).

Repository functions only (rules in :mod:`cbec.rules.ledger`, steps in :mod:`cbec.engine.ledger`).  An item's
``balance`` (first legal quantity) and ``balance2`` (second) always equal the sums of its movements' ``qty``
and ``qty2``: a movement is inserted with ``ON CONFLICT DO NOTHING`` on its idempotency key ``(ledger, kind,
ref, item)`` and only the rows actually inserted (``RETURNING``) move the balances, with an atomic ``balance =
balance + :delta`` (never read-modify-write), in ``(ledger, item)`` order so two PostgreSQL transactions
cannot deadlock.  After moving balances, :func:`record_movements` checks that none it lowered went below
zero, on either quantity, and raises otherwise (the caller's transaction is rolled back): the engine never
asks for an overdraft, and a manual movement that would make one is refused.  (No CHECK constraint:
``rebuild`` recomputes balances without the derived movements, which may pass below zero until the replay
restores them.)

Quantities are integers in 1/100000 of the unit (see :mod:`cbec.rules.ledger`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import polars as pl
from sqlalchemy import Connection, and_, bindparam, delete, func, select, text, update

from cbec.store._common import bulk_insert, check_len, chunks, utcnow
from cbec.store.schema import (
    LEDGER_DERIVED_KINDS,
    LEDGER_DERIVED_TABLES,
    LEDGER_MOVEMENT_KINDS,
    ledger,
    ledger_hold,
    ledger_item,
    ledger_movement,
    stocktake,
    stocktake_line,
)

#: The clearing transaction's PostgreSQL advisory lock (``cbec.engine.clear.CLEARING_LOCK``): every writer of
#: ledger balances takes it, so a manual entry, an officer's release and a clearing batch see each other's
#: balances in turn (SQLite's single writer gives the same).
LEDGER_LOCK = 0x63626563_0002


class LedgerError(ValueError):
    """A ledger operation refused (nothing written); the reason in Chinese and English."""

    def __init__(self, zh: str, en: str, *, status: int = 400) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.status = status


@dataclass(frozen=True, slots=True)
class Ledger:
    id: int
    ems_no: str
    area_code: str
    area_name: str
    customs_code: str
    filed_at: datetime
    filed_by: str

    def to_json(self) -> dict[str, object]:
        return {
            "emsNo": self.ems_no,
            "areaCode": self.area_code,
            "areaName": self.area_name,
            "customsCode": self.customs_code,
            "filedAt": self.filed_at.isoformat(),
            "filedBy": self.filed_by,
        }


@dataclass(frozen=True, slots=True)
class Item:
    ledger_id: int
    item_record_no: str
    gcode: str
    name: str
    unit1: str
    unit2: str | None
    balance: int
    balance2: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Movement:
    """A movement to record (``qty`` signed, 1/100000 of unit1)."""

    ledger_id: int
    item_record_no: str
    kind: str
    qty: int
    ref: str
    doc_no: str
    actor: str
    moved_at: datetime
    qty2: int = 0
    doc_line: int | None = None
    note: str | None = None
    batch_id: int | None = None


@dataclass(frozen=True, slots=True)
class MovementRow:
    id: int
    ledger_id: int
    item_record_no: str
    kind: str
    qty: int
    qty2: int
    ref: str
    doc_no: str
    doc_line: int | None
    moved_at: datetime
    actor: str
    note: str | None


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: int
    list_key: str
    gnum: int
    ledger_id: int
    item_record_no: str
    qty: int
    qty2: int
    invt_no: str | None
    rule: str
    reason_zh: str
    reason_en: str
    held_at: datetime
    released_at: datetime | None


def show(units: int) -> str:
    """1/100000 units as a plain decimal, for messages."""
    return format((Decimal(units) / 100_000).normalize(), "f")


def lock(conn: Connection) -> None:
    """Serialise ledger writers on PostgreSQL (see :data:`LEDGER_LOCK`); SQLite's write lock does it."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEDGER_LOCK})


# --- ledgers and items ----------------------------------------------------------------------------------
def _ledger(row: object) -> Ledger:
    r = row._mapping  # type: ignore[attr-defined]
    return Ledger(
        int(r["id"]),
        r["ems_no"],
        r["area_code"],
        r["area_name"],
        r["customs_code"],
        r["filed_at"],
        r["filed_by"],
    )


def file_ledger(
    conn: Connection,
    *,
    ems_no: str,
    area_code: str,
    area_name: str,
    customs_code: str,
    filed_by: str,
    at: datetime | None = None,
) -> Ledger:
    """File a new ledger (LedgerError 409 if the emsNo is filed already)."""
    check_len("emsNo", ems_no, 30)
    check_len("areaCode", area_code, 32)
    if not (len(customs_code) == 4 and customs_code.isdigit()):
        raise LedgerError(
            f"关区代码{customs_code}应为4位数字", f"customs code {customs_code!r} must be 4 digits"
        )
    if get_ledger(conn, ems_no) is not None:
        raise LedgerError(f"账册{ems_no}已备案", f"ledger {ems_no} is already filed", status=409)
    conn.execute(
        ledger.insert().values(
            ems_no=ems_no,
            area_code=area_code,
            area_name=area_name[:100],
            customs_code=customs_code,
            filed_at=at or utcnow(),
            filed_by=filed_by[:64],
        )
    )
    found = get_ledger(conn, ems_no)
    assert found is not None
    return found


def get_ledger(conn: Connection, ems_no: str) -> Ledger | None:
    row = conn.execute(select(ledger).where(ledger.c.ems_no == ems_no)).first()
    return _ledger(row) if row is not None else None


def ledger_by_id(conn: Connection, ledger_id: int) -> Ledger | None:
    row = conn.execute(select(ledger).where(ledger.c.id == ledger_id)).first()
    return _ledger(row) if row is not None else None


def ledgers_by_ems(conn: Connection, ems_nos: Iterable[str]) -> dict[str, Ledger]:
    wanted = sorted({e for e in ems_nos if e})
    out: dict[str, Ledger] = {}
    for part in chunks(wanted):
        for row in conn.execute(select(ledger).where(ledger.c.ems_no.in_(part))):
            found = _ledger(row)
            out[found.ems_no] = found
    return out


def list_ledgers(
    conn: Connection, *, area_codes: Iterable[str] | None = None, district: str | None = None
) -> list[Ledger]:
    """Every ledger, or those of these zone enterprises, or those kept in this customs district (a district
    ending in 00 covers its two-digit family, as :func:`cbec.rights.district_covers`)."""
    stmt = select(ledger).order_by(ledger.c.ems_no)
    if area_codes is not None:
        stmt = stmt.where(ledger.c.area_code.in_(sorted(set(area_codes))))
    if district is not None:
        stmt = stmt.where(
            ledger.c.customs_code.like(district[:2] + "%")
            if district.endswith("00")
            else ledger.c.customs_code == district
        )
    return [_ledger(r) for r in conn.execute(stmt)]


def _item(row: object) -> Item:
    r = row._mapping  # type: ignore[attr-defined]
    return Item(
        int(r["ledger_id"]),
        r["item_record_no"],
        r["gcode"],
        r["name"],
        r["unit1"],
        r["unit2"],
        int(r["balance"]),
        int(r["balance2"]),
        r["updated_at"],
    )


def file_item(
    conn: Connection,
    ledger_id: int,
    *,
    item_record_no: str,
    gcode: str,
    name: str,
    unit1: str,
    unit2: str | None = None,
) -> Item:
    """File an item on a ledger, or confirm one already filed with the same HS code and units.

    An item's HS code and legal units are what its balance means: filing it again differently is refused.
    """
    check_len("itemRecordNo", item_record_no, 30)
    if not (len(gcode) == 10 and gcode.isdigit()):
        raise LedgerError(f"商品编码{gcode}应为10位数字", f"HS code {gcode!r} must be 10 digits")
    if not (len(unit1) == 3 and unit1.isdigit()) or (unit2 and not (len(unit2) == 3 and unit2.isdigit())):
        raise LedgerError("法定计量单位应为3位代码", "legal units must be 3-digit unit codes")
    existing = items(conn, ledger_id, [item_record_no]).get(item_record_no)
    if existing is not None:
        if (existing.gcode, existing.unit1, existing.unit2 or None) != (gcode, unit1, unit2 or None):
            raise LedgerError(
                f"料号{item_record_no}已备案为{existing.gcode}（单位{existing.unit1}），不能改为{gcode}（单位{unit1}）",
                f"item {item_record_no} is filed as {existing.gcode} (unit {existing.unit1}); "
                f"it cannot become {gcode} (unit {unit1})",
                status=409,
            )
        return existing
    conn.execute(
        ledger_item.insert().values(
            ledger_id=ledger_id,
            item_record_no=item_record_no,
            gcode=gcode,
            name=name[:250],
            unit1=unit1,
            unit2=unit2 or None,
            balance=0,
            balance2=0,
            updated_at=utcnow(),
        )
    )
    return items(conn, ledger_id, [item_record_no])[item_record_no]


def items(conn: Connection, ledger_id: int, item_record_nos: Iterable[str] | None = None) -> dict[str, Item]:
    stmt = select(ledger_item).where(ledger_item.c.ledger_id == ledger_id)
    if item_record_nos is not None:
        wanted = sorted(set(item_record_nos))
        out: dict[str, Item] = {}
        for part in chunks(wanted):
            for row in conn.execute(stmt.where(ledger_item.c.item_record_no.in_(part))):
                it = _item(row)
                out[it.item_record_no] = it
        return out
    return {it.item_record_no: it for it in (_item(r) for r in conn.execute(stmt.order_by("item_record_no")))}


def balances_frame(conn: Connection, ems_nos: Iterable[str]) -> pl.DataFrame:
    """``ems_no, item_record_no, unit1, balance, unit2, balance2`` of every item of these ledgers (the step's
    state, :data:`cbec.rules.ledger.BALANCE_SCHEMA`)."""
    wanted = sorted(set(ems_nos))
    rows: list[tuple[str, str, str, int, str | None, int]] = []
    i = ledger_item.c
    for part in chunks(wanted):
        stmt = (
            select(ledger.c.ems_no, i.item_record_no, i.unit1, i.balance, i.unit2, i.balance2)
            .join(ledger, ledger.c.id == i.ledger_id)
            .where(ledger.c.ems_no.in_(part))
            .order_by(ledger.c.ems_no, i.item_record_no)
        )
        rows += [(e, it, u, int(b), u2 or None, int(b2)) for e, it, u, b, u2, b2 in conn.execute(stmt)]
    return pl.DataFrame(
        rows,
        schema={
            "ems_no": pl.String(),
            "item_record_no": pl.String(),
            "unit1": pl.String(),
            "balance": pl.Int64(),
            "unit2": pl.String(),
            "balance2": pl.Int64(),
        },
        orient="row",
    )


# --- movements ------------------------------------------------------------------------------------------
def record_movements(conn: Connection, movements: Sequence[Movement]) -> list[Movement]:
    """Record new movements and move the balances by them; return the movements that were new.

    Movements whose key is already stored are skipped (idempotent).  A balance that would go below zero
    raises LedgerError — the caller's transaction must then be rolled back.
    """
    if not movements:
        return []
    for m in movements:
        if m.kind not in LEDGER_MOVEMENT_KINDS:
            raise ValueError(f"movement kind must be one of {LEDGER_MOVEMENT_KINDS}, not {m.kind!r}")
        check_len("ref", m.ref, 200)
        check_len("doc_no", m.doc_no, 64)
    rows = [
        {
            "ledger_id": m.ledger_id,
            "item_record_no": m.item_record_no,
            "kind": m.kind,
            "qty": m.qty,
            "qty2": m.qty2,
            "ref": m.ref,
            "doc_no": m.doc_no,
            "doc_line": m.doc_line,
            "moved_at": m.moved_at,
            "actor": m.actor[:64],
            "note": m.note,
            "batch_id": m.batch_id,
        }
        for m in movements
    ]
    keys = [ledger_movement.c.ledger_id, ledger_movement.c.kind, ledger_movement.c.ref]
    inserted = bulk_insert(
        conn,
        ledger_movement,
        rows,
        on_conflict=lambda stmt: stmt.on_conflict_do_nothing(
            index_elements=[*keys, ledger_movement.c.item_record_no]
        ),
        returning=[
            ledger_movement.c.ledger_id,
            ledger_movement.c.kind,
            ledger_movement.c.ref,
            ledger_movement.c.item_record_no,
        ],
    )
    new_keys = {tuple(r) for r in inserted}
    new = [m for m in movements if (m.ledger_id, m.kind, m.ref, m.item_record_no) in new_keys]
    deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for m in new:
        d = deltas[(m.ledger_id, m.item_record_no)]
        d[0] += m.qty
        d[1] += m.qty2
    if deltas:
        now = utcnow()
        params = [
            {"l": lid, "i": item, "d": d[0], "d2": d[1], "now": now}
            for (lid, item), d in sorted(deltas.items())
        ]
        stmt = (
            update(ledger_item)
            .where(
                and_(
                    ledger_item.c.ledger_id == bindparam("l"),
                    ledger_item.c.item_record_no == bindparam("i"),
                )
            )
            .values(
                balance=ledger_item.c.balance + bindparam("d"),
                balance2=ledger_item.c.balance2 + bindparam("d2"),
                updated_at=bindparam("now"),
            )
        )
        result = conn.execute(stmt, params)
        if result.rowcount != len(params):
            raise LedgerError("料号未在账册备案", "a movement names an item not filed on its ledger")
        _no_overdraft(conn, deltas)
    return new


def _no_overdraft(conn: Connection, deltas: dict[tuple[int, str], list[int]]) -> None:
    """Raise when a movement that lowered a balance (either legal quantity) left it below zero."""
    for (lid, item), (d1, d2) in sorted(deltas.items()):
        if d1 >= 0 and d2 >= 0:
            continue  # an increase cannot overdraw
        left, left2 = conn.execute(
            select(ledger_item.c.balance, ledger_item.c.balance2).where(
                ledger_item.c.ledger_id == lid, ledger_item.c.item_record_no == item
            )
        ).one()
        if d1 < 0 and left < 0:
            raise LedgerError(
                f"料号{item}余额不足：变动后为{show(int(left))}",
                f"item {item} balance insufficient: it would be {show(int(left))}",
            )
        if d2 < 0 and left2 < 0:
            raise LedgerError(
                f"料号{item}第二法定数量余额不足：变动后为{show(int(left2))}",
                f"item {item} second legal quantity insufficient: it would be {show(int(left2))}",
            )


def movements(
    conn: Connection,
    ledger_id: int,
    *,
    after: datetime | None = None,
    until: datetime | None = None,
    item_record_no: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[MovementRow]:
    """The movements of a ledger (``after`` < moved_at ≤ ``until``), oldest first unless ``newest_first``."""
    m = ledger_movement.c
    stmt = select(ledger_movement).where(m.ledger_id == ledger_id)
    if after is not None:
        stmt = stmt.where(m.moved_at > after)
    if until is not None:
        stmt = stmt.where(m.moved_at <= until)
    if item_record_no is not None:
        stmt = stmt.where(m.item_record_no == item_record_no)
    stmt = stmt.order_by(m.moved_at.desc(), m.id.desc()) if newest_first else stmt.order_by(m.moved_at, m.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        MovementRow(
            int(r.id),
            int(r.ledger_id),
            r.item_record_no,
            r.kind,
            int(r.qty),
            int(r.qty2),
            r.ref,
            r.doc_no,
            r.doc_line,
            r.moved_at,
            r.actor,
            r.note,
        )
        for r in conn.execute(stmt)
    ]


def book_as_of(conn: Connection, ledger_id: int, at: datetime) -> dict[str, int]:
    """Each item's book quantity (sum of its movements) as of ``at``."""
    m = ledger_movement.c
    stmt = (
        select(m.item_record_no, func.sum(m.qty))
        .where(m.ledger_id == ledger_id, m.moved_at <= at)
        .group_by(m.item_record_no)
    )
    return {item: int(q or 0) for item, q in conn.execute(stmt)}


def movements_for_documents(conn: Connection, doc_nos: Iterable[str]) -> list[MovementRow]:
    wanted = sorted(set(doc_nos))
    out: list[MovementRow] = []
    for part in chunks(wanted):
        for r in conn.execute(select(ledger_movement).where(ledger_movement.c.doc_no.in_(part))):
            out.append(
                MovementRow(
                    int(r.id),
                    int(r.ledger_id),
                    r.item_record_no,
                    r.kind,
                    int(r.qty),
                    int(r.qty2),
                    r.ref,
                    r.doc_no,
                    r.doc_line,
                    r.moved_at,
                    r.actor,
                    r.note,
                )
            )
    return out


# --- holds ----------------------------------------------------------------------------------------------
def hold(conn: Connection, rows: Sequence[dict[str, object]]) -> int:
    """Record held list lines (``list_key, gnum, ledger_id, item_record_no, qty, qty2, invt_no, rule,
    reason_zh, reason_en, held_at``) in arrival order; lines already held are left alone."""
    if not rows:
        return 0
    return len(
        bulk_insert(
            conn,
            ledger_hold,
            [{**r, "released_at": None} for r in rows],
            on_conflict=lambda stmt: stmt.on_conflict_do_nothing(
                index_elements=[ledger_hold.c.list_key, ledger_hold.c.gnum]
            ),
            returning=[ledger_hold.c.id],
        )
    )


def _hold(r: object) -> HoldRow:
    m = r._mapping  # type: ignore[attr-defined]
    return HoldRow(
        int(m["id"]),
        m["list_key"],
        int(m["gnum"]),
        int(m["ledger_id"]),
        m["item_record_no"],
        int(m["qty"]),
        int(m["qty2"]),
        m["invt_no"],
        m["rule"],
        m["reason_zh"],
        m["reason_en"],
        m["held_at"],
        m["released_at"],
    )


def open_holds(conn: Connection, ledger_ids: Iterable[int] | None = None) -> list[HoldRow]:
    """Lines still held, in arrival order (of these ledgers, or all)."""
    stmt = select(ledger_hold).where(ledger_hold.c.released_at.is_(None)).order_by(ledger_hold.c.id)
    if ledger_ids is not None:
        stmt = stmt.where(ledger_hold.c.ledger_id.in_(sorted(set(ledger_ids))))
    return [_hold(r) for r in conn.execute(stmt)]


def holds(conn: Connection, ledger_id: int, *, limit: int = 200) -> list[HoldRow]:
    """A ledger's holds, open ones first, then the most recently released."""
    stmt = (
        select(ledger_hold)
        .where(ledger_hold.c.ledger_id == ledger_id)
        .order_by(ledger_hold.c.released_at.is_not(None), ledger_hold.c.id.desc())
        .limit(limit)
    )
    return [_hold(r) for r in conn.execute(stmt)]


def release_holds(conn: Connection, list_keys: Sequence[str], at: datetime) -> int:
    n = 0
    for part in chunks(sorted(set(list_keys))):
        n += conn.execute(
            update(ledger_hold)
            .where(ledger_hold.c.list_key.in_(part), ledger_hold.c.released_at.is_(None))
            .values(released_at=at)
        ).rowcount
    return n


# --- stocktakes -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StocktakeRow:
    id: int
    ledger_id: int
    counted_at: datetime
    recorded_at: datetime
    actor: str
    note: str | None


def record_stocktake(
    conn: Connection,
    ledger_id: int,
    counted: dict[str, int],
    *,
    counted_at: datetime,
    actor: str,
    note: str | None = None,
) -> int:
    """Record counted quantities with the book quantity as of the count; return the stocktake id.

    Items of the ledger that were not counted are taken as counted zero only if they are listed: the count
    covers exactly the items given (a partial stocktake reconciles those items only).
    """
    known = items(conn, ledger_id)
    unknown = sorted(set(counted) - set(known))
    if unknown:
        raise LedgerError(
            f"盘点数据含未备案料号：{', '.join(unknown[:5])}",
            f"the count names items not on the ledger: {', '.join(unknown[:5])}",
        )
    if any(q < 0 for q in counted.values()):
        raise LedgerError("盘点数量不能为负", "counted quantities cannot be negative")
    book = book_as_of(conn, ledger_id, counted_at)
    sid = conn.execute(
        stocktake.insert()
        .values(ledger_id=ledger_id, counted_at=counted_at, recorded_at=utcnow(), actor=actor[:64], note=note)
        .returning(stocktake.c.id)
    ).scalar_one()
    conn.execute(
        stocktake_line.insert(),
        [
            {"stocktake_id": sid, "item_record_no": item, "counted": qty, "book": book.get(item, 0)}
            for item, qty in sorted(counted.items())
        ],
    )
    return int(sid)


def stocktakes(conn: Connection, ledger_id: int) -> list[StocktakeRow]:
    stmt = (
        select(stocktake)
        .where(stocktake.c.ledger_id == ledger_id)
        .order_by(stocktake.c.counted_at, stocktake.c.id)
    )
    return [
        StocktakeRow(int(r.id), int(r.ledger_id), r.counted_at, r.recorded_at, r.actor, r.note)
        for r in conn.execute(stmt)
    ]


def stocktake_lines(conn: Connection, stocktake_id: int) -> dict[str, tuple[int, int]]:
    """item -> (counted, book as of the count)."""
    stmt = select(stocktake_line).where(stocktake_line.c.stocktake_id == stocktake_id)
    return {r.item_record_no: (int(r.counted), int(r.book)) for r in conn.execute(stmt)}


# --- rebuild --------------------------------------------------------------------------------------------
def forget_derived(conn: Connection) -> dict[str, int]:
    """For :func:`cbec.store.rebuild`: delete what the engine derived from the inbox (write-offs and returns,
    holds, warehouse entries) and set every balance back to the sum of the movements kept (the operator's
    own: entries, transfers, disposals, adjustments)."""
    counts: dict[str, int] = {}
    for table in LEDGER_DERIVED_TABLES:
        counts[table.name] = conn.execute(delete(table)).rowcount
    counts[ledger_movement.name] = conn.execute(
        delete(ledger_movement).where(ledger_movement.c.kind.in_(LEDGER_DERIVED_KINDS))
    ).rowcount
    m = ledger_movement.c
    total = (
        select(func.coalesce(func.sum(m.qty), 0))
        .where(m.ledger_id == ledger_item.c.ledger_id, m.item_record_no == ledger_item.c.item_record_no)
        .scalar_subquery()
    )
    total2 = (
        select(func.coalesce(func.sum(m.qty2), 0))
        .where(m.ledger_id == ledger_item.c.ledger_id, m.item_record_no == ledger_item.c.item_record_no)
        .scalar_subquery()
    )
    counts[ledger_item.name] = conn.execute(
        update(ledger_item).values(balance=total, balance2=total2)
    ).rowcount
    return counts
