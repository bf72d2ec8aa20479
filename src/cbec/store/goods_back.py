"""Import returns (CEB625): the goods back at the original site, and the returns whose goods are late.

A-2020-45 asks two things of a retail-import return: the application within 30 days of release (checked when
the CEB625 is decided, :mod:`cbec.engine.aftercare`) **and** the goods back at the original supervised site,
special zone or B-type bonded centre within 45 days of release (``import.retail.return.goods_back_days``).
No CEB message reports that arrival for a retail-import return, so the site operator or an officer records
it here (``cbec import-return goods-back``).  cbec gives the quota and tax back when the application is
accepted; :func:`overdue` lists the accepted returns whose goods did not come back in time, with what was
given back, for customs to collect again (cbec does not reverse it on its own: whether a late arrival
forfeits the return is customs' decision, the announcement only sets the time limit).

Recording is idempotent (the same return twice with the same time changes nothing) and refused, without
effect, for an unknown or refused application or a time before the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from cbec.params.dated import ParameterSet
from cbec.rules.lifecycle import customs_date, goods_back_deadline
from cbec.store._common import dialect_insert
from cbec.store.schema import application, decision, import_return_goods_back

ACCEPTED = 399
RELEASED = 800


class GoodsBackError(ValueError):
    """The report is refused (nothing was written); ``zh``/``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class GoodsBack:
    return_guid: str
    list_key: str
    back_at: datetime
    deadline: date
    on_time: bool
    recorded: bool
    """False: it was recorded before (nothing changed)."""


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _released_at(conn: Connection, list_key: str) -> datetime | None:
    at = conn.execute(
        select(func.max(decision.c.decided_at)).where(
            decision.c.list_key == list_key, decision.c.status == RELEASED
        )
    ).scalar_one_or_none()
    return _aware(at) if at is not None else None


def record_goods_back(
    conn: Connection,
    *,
    return_guid: str,
    back_at: datetime,
    by: str,
    params: ParameterSet,
    note: str | None = None,
    at: datetime | None = None,
) -> GoodsBack:
    """Record that the goods of an accepted import return are back (caller's transaction)."""
    app = conn.execute(
        select(application.c.list_key, application.c.status, application.c.decided_at).where(
            application.c.kind == "return", application.c.guid == return_guid
        )
    ).first()
    if app is None or app.list_key is None:
        raise GoodsBackError(f"无退货申请{return_guid}", f"no return application {return_guid}")
    if app.status != ACCEPTED:
        raise GoodsBackError(
            f"退货申请{return_guid}未审核通过", f"return application {return_guid} was not accepted"
        )
    back = _aware(back_at)
    if back < _aware(app.decided_at):
        raise GoodsBackError(
            "运抵时间早于退货申请", "the goods cannot be back before the return was accepted"
        )
    known = conn.execute(
        select(import_return_goods_back).where(import_return_goods_back.c.return_guid == return_guid)
    ).first()
    if known is not None:
        if _aware(known.back_at) != back:
            raise GoodsBackError(
                f"退货申请{return_guid}的运抵已于{_aware(known.back_at).isoformat()}记录",
                f"return {return_guid}: the goods were recorded back at {_aware(known.back_at).isoformat()}",
            )
        return GoodsBack(
            return_guid, known.list_key, back, known.deadline, bool(known.on_time), recorded=False
        )
    released = _released_at(conn, app.list_key)
    if released is None:
        raise GoodsBackError("原清单无放行记录", "the original list has no release on record")
    deadline = goods_back_deadline(released, params)
    on_time = customs_date(back) <= deadline
    conn.execute(
        dialect_insert(conn, import_return_goods_back).values(
            return_guid=return_guid,
            list_key=app.list_key,
            back_at=back,
            deadline=deadline,
            on_time=on_time,
            recorded_by=by[:64],
            recorded_at=at or datetime.now(UTC),
            note=note,
        )
    )
    return GoodsBack(return_guid, app.list_key, back, deadline, on_time, recorded=True)


def overdue(conn: Connection, as_of: date, params: ParameterSet) -> list[dict[str, Any]]:
    """Accepted import returns whose goods are late: reported back after the deadline, or not reported and
    the deadline (a Beijing date) passed before ``as_of``; each with what was given back (fen, ≤ 0)."""
    reported = {r.return_guid: r for r in conn.execute(select(import_return_goods_back))}
    released = (
        select(decision.c.list_key, func.max(decision.c.decided_at).label("released_at"))
        .where(decision.c.status == RELEASED)
        .group_by(decision.c.list_key)
        .subquery()
    )
    out = []
    for app in conn.execute(
        select(application, released.c.released_at)
        .join(released, released.c.list_key == application.c.list_key)
        .where(application.c.kind == "return", application.c.status == ACCEPTED)
        .order_by(application.c.id)
    ):
        back = reported.get(app.guid)
        if back is not None:
            if back.on_time:
                continue
            deadline, back_at = back.deadline, _aware(back.back_at)
        else:
            deadline, back_at = goods_back_deadline(_aware(app.released_at), params), None
            if not deadline < as_of:
                continue
        out.append(
            {
                "return_guid": app.guid,
                "list_key": app.list_key,
                "invt_no": app.invt_no,
                "deadline": deadline.isoformat(),
                "back_at": back_at.isoformat() if back_at else None,
                "quota_fen": int(app.quota_fen),
                "tax_fen": int(app.tax_fen),
            }
        )
    return out
