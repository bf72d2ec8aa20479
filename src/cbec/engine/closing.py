"""Closing released lists (结关, 899) once nothing can happen to them any more.

A released (800) list can still be cancelled (CEB623) or returned (CEB625) until its return-application
window ends: ``import.retail.return.application_days`` (30 days, A-2020-45) after the day of release.
From the day after, with no return application still open, it closes: status 899, a decision ``close``
and a CEB622 receipt with 899.  Lists cancelled or returned in full close at once when that application is
accepted (see :mod:`cbec.engine.aftercare`); lists refused (100) or returned abroad (700) end there and
never close.

Closing is idempotent: a closed list is no longer at 800, so running again finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection

from cbec.engine import lists as L
from cbec.params.dated import ParameterSet
from cbec.rules.lifecycle import (
    CHINA,
    CLOSED,
    RELEASED,
    RETURN_WINDOW,
    closable,
    return_deadline,
    return_window_days,
)
from cbec.store import aftercare as store
from cbec.store import decisions as decisions_repo
from cbec.store import outbox as outbox_repo

CLOSE_ZH = "退货申请期限（放行之日起{days}日，至{deadline}）已过，结关"
CLOSE_EN = "the return window ({days} days from release, until {deadline}) has passed; closed"


@dataclass
class CloseSummary:
    as_of: date
    closed: list[str] = field(default_factory=list)
    skipped_open_return: list[str] = field(default_factory=list)
    receipts: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "closed": len(self.closed),
            "skipped_open_return": len(self.skipped_open_return),
            "receipts": self.receipts,
        }


def close_lists(conn: Connection, *, as_of: date, now: datetime, params: ParameterSet) -> CloseSummary:
    """Close every released list whose return window ended before ``as_of`` (a Beijing date)."""
    summary = CloseSummary(as_of)
    # no list released on or after this moment can be due: the shortest window there ever was is the bound
    shortest = min(int(str(v.value)) for v in params.history(RETURN_WINDOW))
    bound = datetime.combine(as_of - timedelta(days=shortest), time(0), tzinfo=CHINA)
    due = [
        key for key, at in store.released_lists(conn, released_before=bound) if closable(at, as_of, params)
    ]
    if not due:
        return summary
    open_ = store.open_returns(conn, due)
    summary.skipped_open_return = sorted(open_)
    stored = L.load(conn, [k for k in due if k not in open_], for_update=True)
    moved = store.move_statuses(
        conn, [k for k, r in stored.refs.items() if r.status == RELEASED and r.released_at], RELEASED, CLOSED
    )
    decisions, rows = [], []
    for key in sorted(moved):
        ref = stored.refs[key]
        assert ref.released_at is not None
        deadline = return_deadline(ref.released_at, params)
        days = return_window_days(ref.released_at, params)
        zh = CLOSE_ZH.format(days=days, deadline=deadline.isoformat())
        en = CLOSE_EN.format(days=days, deadline=deadline.isoformat())
        decisions.append(
            decisions_repo.Decision(
                list_key=key,
                status=CLOSED,
                rule="close",
                reason_zh=zh,
                reason_en=en,
                invt_no=ref.invt_no,
                decided_at=L.aware_utc(now),
            )
        )
        rows.append(L.ListReceipt(key, CLOSED, L.return_info(None, zh, en), now))
    decisions_repo.record(conn, decisions)
    summary.closed = sorted(moved)
    receipts = L.list_receipts(stored, rows)
    outbox_repo.enqueue(conn, receipts)
    summary.receipts = len(receipts)
    return summary
