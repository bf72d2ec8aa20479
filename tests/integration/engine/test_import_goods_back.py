"""Import returns (CEB625): the goods must be back at the original site within 45 days of release
(A-2020-45).  Lists of the aftercare corpus are released 2026-11-12 00:00 UTC (08:00 Beijing), so the last
day is 2026-12-27 (Beijing): a report at 23:59 Beijing that day is on time, one at 00:00 on the 28th is late,
and a return never reported back is overdue from the 28th."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from _aftercare_testlib import World, answers, clear_messages, return_message
from sqlalchemy import func, select

from cbec.params.dated import default_parameters
from cbec.store import goods_back as repo
from cbec.store.schema import import_return_goods_back

AT = datetime(2026, 11, 20, 10, 0)


def _accepted_returns(world: World, n: int) -> list[str]:
    guids = []
    for key in world.lists_at(800)[:n]:
        guid, xml = return_message(world, key, AT)
        clear_messages(world, AT, xml)
        assert answers(world, "CEB626Message", guid)[-1]["returnStatus"] == "399"
        guids.append(guid)
    return guids


def test_goods_back_on_time_late_and_never(world: World) -> None:
    on_time, late, never = _accepted_returns(world, 3)
    params = default_parameters()
    with world.engine.begin() as conn:
        first = repo.record_goods_back(
            conn, return_guid=on_time, back_at=datetime(2026, 12, 27, 15, 59), by="site", params=params
        )
        second = repo.record_goods_back(
            conn, return_guid=late, back_at=datetime(2026, 12, 27, 16, 0), by="site", params=params
        )
        again = repo.record_goods_back(
            conn, return_guid=on_time, back_at=datetime(2026, 12, 27, 15, 59), by="site", params=params
        )
    assert first.deadline == date(2026, 12, 27) and first.on_time and first.recorded
    assert not second.on_time
    assert again.recorded is False
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(import_return_goods_back)).scalar_one() == 2
        due_27 = {r["return_guid"] for r in repo.overdue(conn, date(2026, 12, 27), params)}
        due_28 = {r["return_guid"]: r for r in repo.overdue(conn, date(2026, 12, 28), params)}
    assert due_27 == {late}  # reported late already; "never" is not overdue before its last day has passed
    assert set(due_28) == {late, never}
    assert due_28[never]["back_at"] is None and due_28[never]["quota_fen"] < 0  # what to collect again


@pytest.mark.parametrize(
    ("case", "zh"),
    [("unknown", "无退货申请"), ("before", "早于"), ("other time", "已于")],
)
def test_goods_back_refused_without_effect(world: World, case: str, zh: str) -> None:
    [guid] = _accepted_returns(world, 1)
    params = default_parameters()
    with world.engine.begin() as conn:
        repo.record_goods_back(
            conn, return_guid=guid, back_at=datetime(2026, 12, 1, tzinfo=UTC), by="site", params=params
        )
    target, when = {
        "unknown": ("NO-SUCH-GUID", datetime(2026, 12, 1)),
        "before": (guid, datetime(2026, 11, 1)),
        "other time": (guid, datetime(2026, 12, 2)),
    }[case]
    with pytest.raises(repo.GoodsBackError) as err, world.engine.begin() as conn:
        repo.record_goods_back(conn, return_guid=target, back_at=when, by="site", params=params)
    assert zh in err.value.zh
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(import_return_goods_back)).scalar_one() == 1
