"""The 9810 pre-refund (离境即退税) true-up: recording, per list line, the sale of pre-refunded goods or their
return unsold, and what that leaves of the provisional refund.

A line flagged ``HWC-YT`` gets its provisional refund when its list departs (:mod:`cbec.engine.export`).
Afterwards the enterprise reports, line by line, what was sold (the refund stands) and what came back unsold
(its share of the refund must be repaid, §7.4).  Each report carries the caller's ``event_id``: the same event
twice is recorded once, so a retried API call cannot count a sale twice.  Reports are input, not derived from
the inbox, so ``rebuild`` keeps them; the line's position is always the sum of its reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from cbec.rules import export as X
from cbec.store._common import dialect_insert
from cbec.store.schema import export_refund_line, export_true_up


@dataclass(frozen=True)
class LinePosition:
    invt_no: str
    gnum: int
    gcode: str
    qty: Decimal
    value_fen: int
    refund_rate_bp: int
    status: str
    provisional_fen: int | None
    sold: Decimal
    returned: Decimal
    repaid_fen: int

    @property
    def open_qty(self) -> Decimal:
        return self.qty - self.sold - self.returned

    @property
    def refund_kept_fen(self) -> int:
        return (self.provisional_fen or 0) - self.repaid_fen


@dataclass(frozen=True)
class TrueUpResult:
    recorded: bool
    """False: the event was recorded before (nothing changed)."""
    repay_fen: int
    line: LinePosition


class TrueUpError(ValueError):
    """The report cannot be recorded; ``zh``/``en`` say why (nothing was written)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def _e5(value: Decimal) -> int:
    return int((value * 100_000).to_integral_value())


def position(conn: Connection, invt_no: str, gnum: int) -> LinePosition | None:
    """The line's pre-refund and what its reports have sold and brought back so far."""
    row = conn.execute(
        select(export_refund_line).where(
            export_refund_line.c.invt_no == invt_no, export_refund_line.c.gnum == gnum
        )
    ).first()
    if row is None:
        return None
    totals = dict(
        conn.execute(
            select(export_true_up.c.kind, func.sum(export_true_up.c.qty_e5))
            .where(export_true_up.c.list_key == row.list_key, export_true_up.c.gnum == gnum)
            .group_by(export_true_up.c.kind)
        ).all()
    )
    repaid = conn.execute(
        select(func.coalesce(func.sum(export_true_up.c.repay_fen), 0)).where(
            export_true_up.c.list_key == row.list_key, export_true_up.c.gnum == gnum
        )
    ).scalar_one()
    return LinePosition(
        invt_no=row.invt_no,
        gnum=row.gnum,
        gcode=row.gcode,
        qty=Decimal(row.qty_e5) / 100_000,
        value_fen=row.value_fen,
        refund_rate_bp=row.refund_rate_bp,
        status=row.status,
        provisional_fen=row.provisional_fen,
        sold=Decimal(int(totals.get("sold") or 0)) / 100_000,
        returned=Decimal(int(totals.get("returned") or 0)) / 100_000,
        repaid_fen=int(repaid),
    )


def record(
    conn: Connection,
    *,
    event_id: str,
    invt_no: str,
    gnum: int,
    kind: str,
    qty: Decimal,
    by: str,
    at: datetime,
) -> TrueUpResult:
    """Record a sale or a return of unsold goods on one pre-refunded list line (caller's transaction)."""
    if not event_id or len(event_id) > 64:
        raise TrueUpError("事件编号须为1至64个字符", "event_id must be 1 to 64 characters")
    known = conn.execute(select(export_true_up).where(export_true_up.c.event_id == event_id)).first()
    line = position(conn, invt_no, gnum)
    if known is not None:
        if line is None or known.gnum != gnum or known.kind != kind:
            raise TrueUpError(
                f"事件编号{event_id}已用于其他记录", f"event_id {event_id} was used for another report"
            )
        return TrueUpResult(False, int(known.repay_fen), line)
    if line is None:
        raise TrueUpError(
            f"清单{invt_no}第{gnum}项不是海外仓预退（HWC-YT）商品",
            f"list {invt_no} line {gnum} is not a pre-refunded (HWC-YT) 9810 line",
        )
    if line.status != "provisional" or line.provisional_fen is None:
        raise TrueUpError(
            f"清单{invt_no}尚未离境，没有预退税款可核销",
            f"list {invt_no} has not departed: there is no provisional refund to true up",
        )
    try:
        qty_e5, repay = X.true_up(
            X.RefundLine(
                qty_e5=_e5(line.qty),
                provisional_fen=line.provisional_fen,
                sold_e5=_e5(line.sold),
                returned_e5=_e5(line.returned),
                repaid_fen=line.repaid_fen,
            ),
            kind,
            _e5(qty),
        )
    except X.TrueUpRefused as refused:
        raise TrueUpError(refused.zh, refused.en) from refused
    list_key = conn.execute(
        select(export_refund_line.c.list_key).where(
            export_refund_line.c.invt_no == invt_no, export_refund_line.c.gnum == gnum
        )
    ).scalar_one()
    conn.execute(
        dialect_insert(conn, export_true_up)
        .values(
            event_id=event_id,
            list_key=list_key,
            gnum=gnum,
            kind=kind,
            qty_e5=qty_e5,
            repay_fen=repay,
            recorded_by=by[:64],
            at=at,
        )
        .on_conflict_do_nothing()
    )
    after = position(conn, invt_no, gnum)
    assert after is not None
    return TrueUpResult(True, repay, after)
