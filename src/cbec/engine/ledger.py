"""Operating the bonded e-ledgers (账册): filing, stock movements, holds and their release, stocktakes.

The imperative shell around :mod:`cbec.rules.ledger`.  Each function works in the caller's transaction and
takes the ledger lock first (:func:`cbec.store.ledgers.lock`), so the clearing loop, officers and operators
change balances one at a time.

Which lists the ledger governs: a 1210 list whose ``emsNo`` names a ledger filed in cbec.  A list naming a
ledger cbec does not keep clears as before — its zone's own auxiliary system (辅助管理系统) keeps that ledger
and writes it down; cbec cannot hold what it cannot see.

Where write-offs happen: a list released by the clearing step (:func:`apply_step`), a list released by an
officer after review or inspection (:func:`check_release`), and a held list released because stock arrived
(:func:`release_held`, called after every entry, transfer in, accepted return and positive adjustment).
Held lists are re-evaluated in the order they first arrived, by the same rule as at clearing.

Both legal quantities are kept: ``qty``/``balance`` in the item's first legal unit, ``qty2``/``balance2`` in
its second when it is filed with one (``unit2``).  An operator's line for an item with a second unit states
its second quantity (positive when goods move; an adjustment may leave either at 0); a line for an item
without one states none — customs' pairing rule for list lines (:mod:`cbec.rules.ledger`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection

from cbec.engine import lists as L
from cbec.params.dated import ParameterSet
from cbec.rights import Role
from cbec.rules import ledger as R
from cbec.rules import lifecycle
from cbec.store import enterprises
from cbec.store import ledgers as repo
from cbec.store import outbox as outbox_repo
from cbec.store.ledgers import LedgerError

BONDED = "1210"
ENGINE_ACTOR = "cbec"
#: Disposal kinds (处置) and their Chinese names.
DISPOSALS: Mapping[str, tuple[str, str]] = {
    "trade": ("dispose-trade", "转一般贸易内销"),
    "reexport": ("dispose-reexport", "退运/复出口"),
    "destroy": ("dispose-destroy", "销毁"),
}
KIND_NAMES: Mapping[str, tuple[str, str]] = {
    "entry": ("一线入区", "first-line entry"),
    "writeoff": ("二线出区核减", "write-off of a released list"),
    "return": ("退货入区", "import return back into stock"),
    "transfer-out": ("流转出区", "transfer out"),
    "transfer-in": ("流转入区", "transfer in"),
    "dispose-trade": ("转内销", "disposed: general trade"),
    "dispose-reexport": ("退运/复出口", "disposed: re-exported"),
    "dispose-destroy": ("销毁", "disposed: destroyed"),
    "adjust": ("核准调整", "approved adjustment"),
}
RELEASE_TEXT = ("账册余额已补足，海关放行", "ledger stock now covers the list; released")
GOODS_BACK = "import.retail.return.goods_back_days"


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an operator's movement document (entry, transfer, disposal, adjustment): ``qty`` in the
    item's first legal unit, ``qty2`` in its second (0 for an item without one)."""

    item_record_no: str
    qty: Decimal
    qty2: Decimal = Decimal(0)
    gcode: str | None = None
    name: str | None = None
    unit1: str | None = None
    unit2: str | None = None


@dataclass
class MoveOutcome:
    movements: int = 0
    released: list[str] = field(default_factory=list)
    """Lists released because the stock arrived (list keys, arrival order)."""
    receipts: int = 0

    def to_json(self) -> dict[str, object]:
        return {"movements": self.movements, "released": self.released, "receipts": self.receipts}


# --- filing ---------------------------------------------------------------------------------------------
def file_ledger(
    conn: Connection,
    *,
    ems_no: str,
    area_code: str,
    customs_code: str,
    filed_by: str,
    area_name: str | None = None,
    at: datetime | None = None,
) -> repo.Ledger:
    """File a ledger with its zone warehousing enterprise, which must be a filed site operator."""
    zone = enterprises.get_enterprise(conn, area_code)
    if zone is None or Role.OPERATOR not in zone.roles:
        raise LedgerError(
            f"区内仓储企业{area_code}未备案为监管场所经营人",
            f"zone warehousing enterprise {area_code} is not filed as a site operator",
        )
    return repo.file_ledger(
        conn,
        ems_no=ems_no.strip(),
        area_code=zone.primary_code,
        area_name=area_name or zone.name,
        customs_code=customs_code,
        filed_by=filed_by,
        at=at,
    )


def ledger_of(conn: Connection, ems_no: str) -> repo.Ledger:
    found = repo.get_ledger(conn, ems_no)
    if found is None:
        raise LedgerError(f"账册{ems_no}未在本系统备案", f"ledger {ems_no} is not filed in cbec", status=404)
    return found


def _units(value: Decimal, what: str) -> int:
    try:
        return R.to_units(value)
    except (ValueError, InvalidOperation):
        raise LedgerError(
            f"{what}数量{value}最多5位小数", f"{what} quantity {value}: at most 5 decimals"
        ) from None


def _positive(lines: Sequence[Line]) -> None:
    if not lines:
        raise LedgerError("单据没有表体", "the document has no lines")
    seen = set()
    for line in lines:
        if line.qty <= 0 or line.qty2 < 0:
            raise LedgerError(
                f"料号{line.item_record_no}数量须大于0",
                f"item {line.item_record_no}: quantity must be positive",
            )
        if line.item_record_no in seen:
            raise LedgerError(
                f"料号{line.item_record_no}在单据中重复", f"item {line.item_record_no} appears twice"
            )
        seen.add(line.item_record_no)


def _ensure_items(conn: Connection, ledger: repo.Ledger, lines: Sequence[Line]) -> None:
    """Items named with their HS code and unit are filed on the way (first entry of a new SKU)."""
    known = repo.items(conn, ledger.id, [line.item_record_no for line in lines])
    for line in lines:
        if line.item_record_no in known and line.gcode is None:
            continue
        if line.gcode is None or line.unit1 is None:
            raise LedgerError(
                f"料号{line.item_record_no}未在账册{ledger.ems_no}备案，请同时给出商品编码和法定计量单位",
                f"item {line.item_record_no} is not on ledger {ledger.ems_no}: "
                "give its HS code and legal unit",
            )
        repo.file_item(
            conn,
            ledger.id,
            item_record_no=line.item_record_no,
            gcode=line.gcode,
            name=line.name or line.item_record_no,
            unit1=line.unit1,
            unit2=line.unit2,
        )


def _record(conn: Connection, moves: Sequence[repo.Movement], doc_no: str) -> list[repo.Movement]:
    new = repo.record_movements(conn, moves)
    if moves and not new:
        raise LedgerError(f"单据{doc_no}已登记", f"document {doc_no} is already recorded", status=409)
    return new


# --- operator movements -----------------------------------------------------------------------------------
def entry(
    conn: Connection, ems_no: str, entry_no: str, lines: Sequence[Line], *, actor: str, at: datetime
) -> MoveOutcome:
    """一线入区: bulk stock entered on a first-line declaration (entry number ``entry_no``)."""
    repo.lock(conn)
    ledger = ledger_of(conn, ems_no)
    _positive(lines)
    _ensure_items(conn, ledger, lines)
    _second_quantities(conn, ledger, lines)
    moves = [
        repo.Movement(
            ledger.id,
            line.item_record_no,
            "entry",
            _units(line.qty, "入区"),
            entry_no,
            entry_no,
            actor,
            L.aware_utc(at),
            qty2=_units(line.qty2, "入区"),
        )
        for line in lines
    ]
    new = _record(conn, moves, entry_no)
    return _then_release(conn, [ledger.id], len(new), at)


def transfer(
    conn: Connection,
    from_ems: str,
    to_ems: str,
    transfer_no: str,
    lines: Sequence[Line],
    *,
    actor: str,
    at: datetime,
) -> MoveOutcome:
    """流转: out of one zone's ledger into another's; items arrive with the source's HS code and units."""
    repo.lock(conn)
    source, target = ledger_of(conn, from_ems), ledger_of(conn, to_ems)
    if source.id == target.id:
        raise LedgerError("流转的转出和转入账册相同", "a transfer needs two different ledgers")
    _positive(lines)
    src_items = repo.items(conn, source.id, [line.item_record_no for line in lines])
    missing = [line.item_record_no for line in lines if line.item_record_no not in src_items]
    if missing:
        raise LedgerError(
            f"转出账册{from_ems}无料号{missing[0]}",
            f"item {missing[0]} is not on the source ledger {from_ems}",
        )
    _second_quantities(conn, source, lines)
    _ensure_items(
        conn,
        target,
        [
            Line(
                line.item_record_no,
                line.qty,
                line.qty2,
                src_items[line.item_record_no].gcode,
                src_items[line.item_record_no].name,
                src_items[line.item_record_no].unit1,
                src_items[line.item_record_no].unit2,
            )
            for line in lines
        ],
    )
    when = L.aware_utc(at)
    outs = [
        repo.Movement(
            source.id,
            line.item_record_no,
            "transfer-out",
            -_units(line.qty, "流转"),
            transfer_no,
            transfer_no,
            actor,
            when,
            qty2=-_units(line.qty2, "流转"),
            note=f"→ {to_ems}",
        )
        for line in lines
    ]
    ins = [
        repo.Movement(
            target.id,
            line.item_record_no,
            "transfer-in",
            _units(line.qty, "流转"),
            transfer_no,
            transfer_no,
            actor,
            when,
            qty2=_units(line.qty2, "流转"),
            note=f"← {from_ems}",
        )
        for line in lines
    ]
    new = _record(conn, outs, transfer_no) + repo.record_movements(conn, ins)
    return _then_release(conn, [target.id], len(new), at)


def dispose(
    conn: Connection,
    ems_no: str,
    how: str,
    doc_no: str,
    lines: Sequence[Line],
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> MoveOutcome:
    """处置: unsaleable stock imported as general trade (``trade``), re-exported or destroyed."""
    if how not in DISPOSALS:
        raise LedgerError(
            f"处置方式{how}无效（trade/reexport/destroy）",
            f"disposal {how!r}: choose trade, reexport or destroy",
        )
    repo.lock(conn)
    ledger = ledger_of(conn, ems_no)
    _positive(lines)
    _known(conn, ledger, lines)
    _second_quantities(conn, ledger, lines)
    kind = DISPOSALS[how][0]
    moves = [
        repo.Movement(
            ledger.id,
            line.item_record_no,
            kind,
            -_units(line.qty, "处置"),
            doc_no,
            doc_no,
            actor,
            L.aware_utc(at),
            qty2=-_units(line.qty2, "处置"),
            note=note,
        )
        for line in lines
    ]
    return MoveOutcome(movements=len(_record(conn, moves, doc_no)))


def adjust(
    conn: Connection,
    ems_no: str,
    approval_no: str,
    lines: Sequence[Line],
    *,
    actor: str,
    at: datetime,
    reason: str,
) -> MoveOutcome:
    """经批准的调整: signed quantities under an approval number; the reason is kept with each movement."""
    if not reason.strip():
        raise LedgerError("调整须注明原因", "an adjustment needs a reason")
    repo.lock(conn)
    ledger = ledger_of(conn, ems_no)
    if not lines or any(line.qty == 0 and line.qty2 == 0 for line in lines):
        raise LedgerError("调整数量不能为0", "an adjustment quantity cannot be zero")
    _known(conn, ledger, lines)
    _second_quantities(conn, ledger, lines, moving=False)
    moves = [
        repo.Movement(
            ledger.id,
            line.item_record_no,
            "adjust",
            _units(line.qty, "调整"),
            approval_no,
            approval_no,
            actor,
            L.aware_utc(at),
            qty2=_units(line.qty2, "调整"),
            note=reason.strip(),
        )
        for line in lines
    ]
    new = _record(conn, moves, approval_no)
    up = any(m.qty > 0 or m.qty2 > 0 for m in new)
    return _then_release(conn, [ledger.id] if up else [], len(new), at)


def _known(conn: Connection, ledger: repo.Ledger, lines: Sequence[Line]) -> None:
    known = repo.items(conn, ledger.id, [line.item_record_no for line in lines])
    for line in lines:
        if line.item_record_no not in known:
            raise LedgerError(
                f"料号{line.item_record_no}未在账册{ledger.ems_no}备案",
                f"item {line.item_record_no} is not on ledger {ledger.ems_no}",
            )


def _second_quantities(
    conn: Connection, ledger: repo.Ledger, lines: Sequence[Line], *, moving: bool = True
) -> None:
    """Each line's units are its item's, and its ``qty2`` is there exactly when the item has a second legal
    unit: positive for goods that move (``moving``), any for an approved adjustment; 0 for an item without
    one.  Called once the items are known to be filed."""
    filed = repo.items(conn, ledger.id, [line.item_record_no for line in lines])
    for line in lines:
        item = filed[line.item_record_no]
        for given, kept, zh, en in (
            (line.unit1, item.unit1, "", ""),
            (line.unit2, item.unit2, "第二", "second "),
        ):
            if given and given != kept:
                raise LedgerError(
                    f"料号{item.item_record_no}的{zh}法定计量单位为{kept or '空'}，单据为{given}",
                    f"item {item.item_record_no} is kept in {en}legal unit {kept or 'none'}, "
                    f"the document says {given}",
                )
        if not item.unit2:
            if line.qty2 != 0:
                raise LedgerError(
                    f"料号{item.item_record_no}未备案第二法定计量单位，不能有第二数量",
                    f"item {item.item_record_no} has no second legal unit: give no second quantity",
                )
        elif moving and line.qty2 <= 0:
            raise LedgerError(
                f"料号{item.item_record_no}备案有第二法定计量单位{item.unit2}，须给出第二数量",
                f"item {item.item_record_no} is filed with a second legal unit {item.unit2}: "
                "give its second quantity (qty2)",
            )


def _then_release(conn: Connection, ledger_ids: Sequence[int], moved: int, at: datetime) -> MoveOutcome:
    out = MoveOutcome(movements=moved)
    if ledger_ids:
        released, receipts = release_held(conn, ledger_ids, at=at)
        out.released, out.receipts = released, receipts
    return out


# --- holds and their release ----------------------------------------------------------------------------
def _hold_rows(
    frame: pl.DataFrame, ledgers: Mapping[str, int], invt: Mapping[str, str | None], at: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "list_key": r["list_key"],
            "gnum": int(r["gnum"]),
            "ledger_id": ledgers[r["ems_no"]],
            "item_record_no": r["item_record_no"] or "",
            "qty": int(r["qty"]),
            "qty2": int(r["qty2"]),
            "invt_no": invt.get(r["list_key"]),
            "rule": r["rule"],
            "reason_zh": r["reason_zh"],
            "reason_en": r["reason_en"],
            "held_at": L.aware_utc(at),
        }
        for r in frame.iter_rows(named=True)
    ]


def _writeoff_moves(
    frame: pl.DataFrame,
    ledgers: Mapping[str, int],
    invt: Mapping[str, str | None],
    *,
    actor: str,
    at: datetime,
    batch_id: int | None,
) -> list[repo.Movement]:
    return [
        repo.Movement(
            ledgers[r["ems_no"]],
            r["item_record_no"],
            "writeoff",
            -int(r["qty"]),
            f"{r['list_key']}#{r['gnum']}",
            (invt.get(r["list_key"]) or r["list_key"])[:64],
            actor,
            L.aware_utc(at),
            qty2=-int(r["qty2"]),
            doc_line=int(r["gnum"]),
            batch_id=batch_id,
        )
        for r in frame.iter_rows(named=True)
    ]


def apply_step(
    conn: Connection,
    writeoffs: pl.DataFrame,
    holds: pl.DataFrame,
    invt_nos: pl.DataFrame,
    *,
    at: datetime,
    batch_id: int | None,
) -> None:
    """Write what the clearing step decided: the write-offs of released 1210 lists, the held lines."""
    if writeoffs.height == 0 and holds.height == 0:
        return
    ems = set(writeoffs["ems_no"].to_list()) | set(holds["ems_no"].to_list())
    ledgers = {e: lg.id for e, lg in repo.ledgers_by_ems(conn, ems).items()}
    keys = set(writeoffs["list_key"].to_list()) | set(holds["list_key"].to_list())
    invt = {k: v for k, v in invt_nos.filter(pl.col("list_key").is_in(list(keys))).iter_rows()}
    repo.record_movements(
        conn, _writeoff_moves(writeoffs, ledgers, invt, actor=ENGINE_ACTOR, at=at, batch_id=batch_id)
    )
    repo.hold(conn, _hold_rows(holds, ledgers, invt, at))


def _demand_of(stored: L.StoredLists, keys: Sequence[str], seq: Mapping[str, int]) -> pl.DataFrame:
    """The ledger demand of stored lists (their lines' legal quantities), for the lists on a filed ledger."""
    if not keys or stored.lines.height == 0:
        return R.empty_demand()
    heads = stored.heads.filter(pl.col("list_key").is_in(list(keys))).select(
        "list_key", pl.col("emsNo").alias("ems_no")
    )
    lines = stored.lines.filter(pl.col("list_key").is_in(list(keys))).join(heads, on="list_key")
    return lines.select(
        "list_key",
        pl.col("list_key").replace_strict(dict(seq), return_dtype=pl.Int64).alias("seq"),
        pl.col("gnum").cast(pl.Int64),
        "ems_no",
        pl.col("itemRecordNo").alias("item_record_no"),
        "unit1",
        "unit2",
        R.scaled(pl.coalesce("qty1", "qty")).alias("qty"),
        R.scaled(pl.col("qty2")).alias("qty2"),
    )


def governed(conn: Connection, stored: L.StoredLists, key: str) -> repo.Ledger | None:
    """The ledger filed in cbec that governs a stored list, if it is a 1210 list on one."""
    head = stored.head(key)
    if str(head.get("tradeMode") or "") != BONDED or not head.get("emsNo"):
        return None
    return repo.get_ledger(conn, str(head["emsNo"]))


@dataclass(frozen=True, slots=True)
class ReleaseCheck:
    release: bool
    reason_zh: str = ""
    reason_en: str = ""


def check_release(
    conn: Connection, stored: L.StoredLists, key: str, *, actor: str, at: datetime
) -> ReleaseCheck:
    """An officer is about to release a list (after review or inspection): write off its ledger lines, or
    hold it with the reason when the ledger cannot cover it (the caller then moves it to 399, not 800)."""
    led = governed(conn, stored, key)
    if led is None:
        return ReleaseCheck(True)
    repo.lock(conn)
    demand = _demand_of(stored, [key], {key: 0})
    writeoffs, holds = R.fit(demand, repo.balances_frame(conn, [led.ems_no]))
    invt = {key: stored.refs[key].invt_no}
    if holds.height:
        repo.hold(conn, _hold_rows(holds, {led.ems_no: led.id}, invt, at))
        return ReleaseCheck(False, str(holds["reason_zh"][0]), str(holds["reason_en"][0]))
    repo.record_movements(
        conn, _writeoff_moves(writeoffs, {led.ems_no: led.id}, invt, actor=actor, at=at, batch_id=None)
    )
    return ReleaseCheck(True)


def release_held(
    conn: Connection, ledger_ids: Sequence[int], *, at: datetime, batch_id: int | None = None
) -> tuple[list[str], int]:
    """Release the held lists of these ledgers that the balances now cover, in arrival order: 399 → 800,
    write-offs, CEB622 800.  Returns the list keys released and the number of receipts queued."""
    open_rows = repo.open_holds(conn, ledger_ids)
    if not open_rows:
        return [], 0
    by_id = {lid: repo.ledger_by_id(conn, lid) for lid in {h.ledger_id for h in open_rows}}
    ems_of = {lid: lg.ems_no for lid, lg in by_id.items() if lg is not None}
    # a list's holds may span ledgers: take all its held lines
    keys = list(dict.fromkeys(h.list_key for h in open_rows))
    all_rows = [h for h in repo.open_holds(conn) if h.list_key in set(keys)]
    for lid in {h.ledger_id for h in all_rows} - set(ems_of):
        lg = repo.ledger_by_id(conn, lid)
        if lg is not None:
            ems_of[lid] = lg.ems_no
    first: dict[str, int] = {}
    for h in all_rows:
        first.setdefault(h.list_key, h.id)
    stored = L.load(conn, keys, for_update=True)
    units: dict[tuple[str, int], tuple[str | None, str | None]] = {}
    if stored.lines.height:
        units = {
            (k, int(g)): (u1, u2)
            for k, g, u1, u2 in stored.lines.select("list_key", "gnum", "unit1", "unit2").iter_rows()
        }
    demand = pl.DataFrame(
        [
            {
                "list_key": h.list_key,
                "seq": first[h.list_key],
                "gnum": h.gnum,
                "ems_no": ems_of[h.ledger_id],
                "item_record_no": h.item_record_no,
                "unit1": units.get((h.list_key, h.gnum), (None, None))[0],
                "unit2": units.get((h.list_key, h.gnum), (None, None))[1],
                "qty": h.qty,
                "qty2": h.qty2,
            }
            for h in all_rows
        ],
        schema=R.DEMAND_SCHEMA,
    )
    writeoffs, _still = R.fit(demand, repo.balances_frame(conn, set(ems_of.values())))
    released = list(dict.fromkeys(writeoffs["list_key"].to_list()))
    released = [k for k in released if k in stored.refs and stored.refs[k].status == lifecycle.CONCLUDED]
    if not released:
        return [], 0
    writeoffs = writeoffs.filter(pl.col("list_key").is_in(released))
    invt = {k: stored.refs[k].invt_no for k in released}
    ledgers = {e: lid for lid, e in ems_of.items()}
    repo.record_movements(
        conn, _writeoff_moves(writeoffs, ledgers, invt, actor=ENGINE_ACTOR, at=at, batch_id=batch_id)
    )
    rows: list[L.ListReceipt] = []
    zh, en = RELEASE_TEXT
    for key in released:
        if not L.record_move(
            conn,
            stored.refs[key],
            lifecycle.RELEASED,
            rule="ledger-release",
            reason_zh=zh,
            reason_en=en,
            at=at,
            batch_id=batch_id,
        ):
            raise RuntimeError(f"list {key} changed status while its hold was released")  # rows are locked
        rows.append(L.ListReceipt(key, lifecycle.RELEASED, L.return_info(None, zh, en), L.naive_utc(at)))
    repo.release_holds(conn, released, L.aware_utc(at))
    receipts = L.list_receipts(stored, rows)
    outbox_repo.enqueue(conn, receipts)
    return released, len(receipts)


# --- returns back into stock ----------------------------------------------------------------------------
def returns_into_stock(
    conn: Connection,
    stored: L.StoredLists,
    returned: Sequence[tuple[str, str, int, Decimal]],
    *,
    params: ParameterSet,
    at: datetime,
    batch_id: int | None,
) -> tuple[list[str], int]:
    """Accepted import returns (list key, return guid, gnum, quantity in the declared unit) of 1210 lists on
    a filed ledger go back into stock, in the legal unit pro rata, when accepted within the goods-back window
    (``import.retail.return.goods_back_days`` after release); then held lists are re-evaluated."""
    moves: list[repo.Movement] = []
    touched: set[int] = set()
    lines = stored.lines
    for key, guid, gnum, qty in returned:
        led = governed(conn, stored, key)
        ref = stored.refs.get(key)
        if led is None or ref is None or ref.released_at is None or lines.height == 0:
            continue
        deadline = lifecycle.customs_date(ref.released_at) + timedelta(
            days=params.int_at(GOODS_BACK, lifecycle.customs_date(ref.released_at))
        )
        if lifecycle.customs_date(at) > deadline:
            continue
        row = lines.filter((pl.col("list_key") == key) & (pl.col("gnum").cast(pl.Int64) == gnum))
        if row.height == 0 or not row["itemRecordNo"][0]:
            continue
        r = row.row(0, named=True)
        declared = Decimal(str(r["qty"])) if r["qty"] is not None else Decimal(0)
        if declared <= 0:
            continue
        legal = Decimal(str(r["qty1"])) if r["qty1"] is not None else declared
        second = Decimal(str(r["qty2"])) if r["qty2"] is not None else Decimal(0)
        share = qty / declared
        moves.append(
            repo.Movement(
                led.id,
                str(r["itemRecordNo"]),
                "return",
                R.to_units((legal * share).quantize(Decimal("0.00001"))),
                f"{guid}#{gnum}",
                (ref.invt_no or key)[:64],
                ENGINE_ACTOR,
                L.aware_utc(at),
                qty2=R.to_units((second * share).quantize(Decimal("0.00001"))),
                doc_line=gnum,
                note=f"return {guid}",
                batch_id=batch_id,
            )
        )
        touched.add(led.id)
    if not moves:
        return [], 0
    repo.lock(conn)
    repo.record_movements(conn, _only_kept_quantities(conn, moves))
    return release_held(conn, sorted(touched), at=at, batch_id=batch_id)


def _only_kept_quantities(conn: Connection, moves: Sequence[repo.Movement]) -> list[repo.Movement]:
    """Movements derived from list lines, with ``qty2`` 0 on items filed without a second legal unit (the
    line's second quantity means nothing on them; as the write-offs, :func:`cbec.rules.ledger.fit`)."""
    by_ledger: dict[int, set[str]] = defaultdict(set)
    for m in moves:
        by_ledger[m.ledger_id].add(m.item_record_no)
    no_second = {
        (lid, it.item_record_no)
        for lid, wanted in by_ledger.items()
        for it in repo.items(conn, lid, wanted).values()
        if not it.unit2
    }
    return [replace(m, qty2=0) if (m.ledger_id, m.item_record_no) in no_second else m for m in moves]


# --- stocktake and reconciliation -----------------------------------------------------------------------
def read_counts(text: str) -> dict[str, Decimal]:
    """Counted quantities from CSV text with the columns ``itemRecordNo`` and ``qty`` (a header row)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = {f.strip() for f in reader.fieldnames or []}
    if not {"itemRecordNo", "qty"} <= fields:
        raise LedgerError(
            "盘点文件须有itemRecordNo和qty两列", "the count file needs the columns itemRecordNo and qty"
        )
    out: dict[str, Decimal] = {}
    for n, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        item = row["itemRecordNo"]
        if not item:
            continue
        try:
            qty = Decimal(row["qty"])
        except InvalidOperation:
            raise LedgerError(
                f"第{n}行数量{row['qty']!r}无效", f"line {n}: quantity {row['qty']!r} is not a number"
            ) from None
        if item in out:
            raise LedgerError(f"第{n}行料号{item}重复", f"line {n}: item {item} counted twice")
        out[item] = qty
    return out


def record_count(
    conn: Connection,
    ems_no: str,
    counted: Mapping[str, Decimal],
    *,
    counted_at: datetime,
    actor: str,
    note: str | None = None,
) -> int:
    """Record a stocktake (盘点) of these items; the book quantity as of the count is kept with it."""
    led = ledger_of(conn, ems_no)
    if not counted:
        raise LedgerError("盘点数据为空", "the count is empty")
    return repo.record_stocktake(
        conn,
        led.id,
        {item: _units(q, "盘点") for item, q in counted.items()},
        counted_at=L.aware_utc(counted_at),
        actor=actor,
        note=note,
    )


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    item_record_no: str
    name: str
    gcode: str
    unit1: str
    book: int
    counted: int
    movements: dict[str, int]
    """Per movement kind, the quantity moved since the previous stocktake (signed)."""
    opening: int | None
    """The count of the previous stocktake, if the item was counted then."""

    @property
    def difference(self) -> int:
        return self.counted - self.book

    @property
    def unexplained(self) -> int | None:
        """Counted − (previous count + movements since): what the movements do not explain."""
        if self.opening is None:
            return None
        return self.counted - (self.opening + sum(self.movements.values()))


@dataclass(frozen=True, slots=True)
class Reconciliation:
    ledger: repo.Ledger
    stocktake_id: int
    counted_at: datetime
    previous_at: datetime | None
    rows: list[ReconciliationRow]
    movements: list[repo.MovementRow]

    def to_json(self) -> dict[str, object]:
        return {
            "emsNo": self.ledger.ems_no,
            "stocktake": self.stocktake_id,
            "countedAt": self.counted_at.isoformat(),
            "previousAt": self.previous_at.isoformat() if self.previous_at else None,
            "items": [
                {
                    "itemRecordNo": r.item_record_no,
                    "name": r.name,
                    "gcode": r.gcode,
                    "unit1": r.unit1,
                    "book": R.show(r.book),
                    "counted": R.show(r.counted),
                    "difference": R.show(r.difference),
                    "previousCount": R.show(r.opening) if r.opening is not None else None,
                    "movementsSincePrevious": {k: R.show(v) for k, v in sorted(r.movements.items())},
                    "unexplained": R.show(r.unexplained) if r.unexplained is not None else None,
                }
                for r in self.rows
            ],
            "movements": [_movement_json(m) for m in self.movements],
        }


def _movement_json(m: repo.MovementRow) -> dict[str, object]:
    return {
        "id": m.id,
        "itemRecordNo": m.item_record_no,
        "kind": m.kind,
        "kind_zh": KIND_NAMES.get(m.kind, (m.kind, m.kind))[0],
        "qty": R.show(m.qty),
        "qty2": R.show(m.qty2),
        "docNo": m.doc_no,
        "docLine": m.doc_line,
        "movedAt": m.moved_at.isoformat(),
        "actor": m.actor,
        "note": m.note,
    }


def movement_json(m: repo.MovementRow) -> dict[str, object]:
    return _movement_json(m)


def reconcile(conn: Connection, ems_no: str, stocktake_id: int | None = None) -> Reconciliation:
    """Book against counted per item for a stocktake (default: the latest), with the movements since the
    previous stocktake that explain each difference."""
    led = ledger_of(conn, ems_no)
    takes = repo.stocktakes(conn, led.id)
    if not takes:
        raise LedgerError(f"账册{ems_no}尚无盘点记录", f"ledger {ems_no} has no stocktake yet", status=404)
    idx = (
        len(takes) - 1
        if stocktake_id is None
        else next((i for i, t in enumerate(takes) if t.id == stocktake_id), -1)
    )
    if idx < 0:
        raise LedgerError(
            f"盘点{stocktake_id}不属于账册{ems_no}",
            f"stocktake {stocktake_id} is not of ledger {ems_no}",
            status=404,
        )
    take = takes[idx]
    prev = takes[idx - 1] if idx > 0 else None
    lines = repo.stocktake_lines(conn, take.id)
    before = repo.stocktake_lines(conn, prev.id) if prev else {}
    moved = repo.movements(conn, led.id, after=prev.counted_at if prev else None, until=take.counted_at)
    per_item: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m in moved:
        per_item[m.item_record_no][m.kind] += m.qty
    item_info = repo.items(conn, led.id)
    rows = []
    for item, (counted, book) in sorted(lines.items()):
        info = item_info.get(item)
        rows.append(
            ReconciliationRow(
                item,
                info.name if info else "",
                info.gcode if info else "",
                info.unit1 if info else "",
                book,
                counted,
                dict(per_item.get(item, {})),
                before[item][0] if item in before else None,
            )
        )
    counted_items = set(lines)
    return Reconciliation(
        led,
        take.id,
        take.counted_at,
        prev.counted_at if prev else None,
        rows,
        [m for m in moved if m.item_record_no in counted_items],
    )


HEADERS = (
    ("itemRecordNo", "料号"),
    ("name", "品名"),
    ("gcode", "商品编码"),
    ("unit1", "法定单位"),
    ("book", "账面数"),
    ("counted", "实盘数"),
    ("difference", "差异"),
    ("previousCount", "上次实盘数"),
    ("movements", "期间变动"),
    ("unexplained", "未解释差异"),
)


def _table(rec: Reconciliation) -> list[list[str]]:
    out = []
    for r in rec.to_json()["items"]:  # type: ignore[attr-defined]
        moves = "; ".join(
            f"{KIND_NAMES.get(k, (k, k))[0]} {v}" for k, v in r["movementsSincePrevious"].items()
        )
        out.append(
            [
                r["itemRecordNo"],
                r["name"],
                r["gcode"],
                r["unit1"],
                r["book"],
                r["counted"],
                r["difference"],
                r["previousCount"] or "",
                moves,
                r["unexplained"] or "",
            ]
        )
    return out


def reconciliation_csv(rec: Reconciliation) -> str:
    """The reconciliation as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese header)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([f"{zh} {en}" for en, zh in HEADERS])
    w.writerows(_table(rec))
    return "\ufeff" + buf.getvalue()


def reconciliation_xlsx(rec: Reconciliation, path: Path) -> None:
    """The reconciliation as an Excel workbook: sheet 对账 (per item) and sheet 变动 (the movements)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "对账 Reconciliation"
    previous = rec.previous_at.isoformat() if rec.previous_at else "-"
    ws.append(
        [
            f"账册 ledger {rec.ledger.ems_no}",
            rec.ledger.area_name,
            f"盘点 stocktake #{rec.stocktake_id}",
            rec.counted_at.isoformat(),
            f"上次 previous: {previous}",
        ]
    )
    ws.append([f"{zh} {en}" for en, zh in HEADERS])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in _table(rec):
        ws.append([_number(v) if i in (4, 5, 6, 7, 9) else v for i, v in enumerate(row)])
    mv = wb.create_sheet("变动 Movements")
    mv.append(
        [
            "时间 moved at",
            "料号 item",
            "类型 kind",
            "数量 qty",
            "单证 document",
            "项号 line",
            "经办 by",
            "备注 note",
        ]
    )
    for cell in mv[1]:
        cell.font = Font(bold=True)
    for m in rec.movements:
        kind = f"{KIND_NAMES.get(m.kind, (m.kind, m.kind))[0]} {m.kind}"
        mv.append(
            [
                m.moved_at.isoformat(),
                m.item_record_no,
                kind,
                _number(R.show(m.qty)),
                m.doc_no,
                m.doc_line,
                m.actor,
                m.note or "",
            ]
        )
    wb.save(path)


def _number(value: str) -> Decimal | str:
    if value == "":
        return value
    try:
        return Decimal(value)
    except InvalidOperation:
        return value


def _pair(text: str) -> tuple[str, str | None]:
    """``A`` or ``A/B`` (first and second legal unit's value)."""
    first, _, second = text.partition("/")
    return first.strip(), (second.strip() or None)


def _quantity(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise LedgerError(f"数量{text!r}无效", f"quantity {text!r} is not a number") from None


def parse_lines(items: Iterable[str]) -> list[Line]:
    """``ITEM=QTY[/QTY2]`` or ``ITEM=QTY[/QTY2]:GCODE:UNIT1[/UNIT2][:NAME]`` (CLI form of a movement
    document's lines; ``/`` adds the second legal quantity and unit of an item that has one)."""
    out = []
    for spec in items:
        if "=" not in spec:
            raise LedgerError(f"表体{spec!r}应为 料号=数量", f"line {spec!r}: write ITEM=QTY")
        item, rest = spec.split("=", 1)
        parts = rest.split(":")
        qty, qty2 = _pair(parts[0])
        unit1, unit2 = _pair(parts[2]) if len(parts) > 2 else (None, None)
        out.append(
            Line(
                item.strip(),
                _quantity(qty),
                _quantity(qty2) if qty2 is not None else Decimal(0),
                parts[1] if len(parts) > 1 else None,
                parts[3] if len(parts) > 3 else None,
                unit1,
                unit2,
            )
        )
    return out


def ledger_view(conn: Connection, ems_no: str, *, movements: int = 50) -> dict[str, Any]:
    """What the CLI, the API and the console show of a ledger: stock per item, recent movements, held lists
    (open first) and the last reconciliation."""
    led = ledger_of(conn, ems_no)
    stock = [
        {
            "itemRecordNo": it.item_record_no,
            "name": it.name,
            "gcode": it.gcode,
            "unit1": it.unit1,
            "unit2": it.unit2,
            "balance": R.show(it.balance),
            "balance2": R.show(it.balance2),
            "updatedAt": it.updated_at.isoformat(),
        }
        for it in repo.items(conn, led.id).values()
    ]
    held: dict[str, dict[str, Any]] = {}
    for h in repo.holds(conn, led.id):
        entry_ = held.setdefault(
            h.list_key,
            {
                "listKey": h.list_key,
                "invtNo": h.invt_no,
                "rule": h.rule,
                "reason_zh": h.reason_zh,
                "reason_en": h.reason_en,
                "heldAt": h.held_at.isoformat(),
                "releasedAt": h.released_at.isoformat() if h.released_at else None,
                "lines": [],
            },
        )
        entry_["lines"].append(
            {"gnum": h.gnum, "itemRecordNo": h.item_record_no, "qty": R.show(h.qty), "qty2": R.show(h.qty2)}
        )
    try:
        last: dict[str, Any] | None = reconcile(conn, ems_no).to_json()
    except LedgerError:
        last = None
    return {
        "ledger": led.to_json(),
        "items": stock,
        "movements": [
            _movement_json(m) for m in repo.movements(conn, led.id, limit=movements, newest_first=True)
        ],
        "holds": list(held.values()),
        "reconciliation": last,
    }
