"""Closing (结关, 899): released lists close the day after their 30-day return window, once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from _aftercare_testlib import World, answers, assert_receipts_valid, snapshot
from typer.testing import CliRunner

from cbec.engine.closing import close_lists
from cbec.engine.review import record_result

# the corpus is released on 2026-11-12 (Beijing date); 30 days after: 2026-12-12 is the last day for returns
LAST_DAY = date(2026, 12, 12)


def _close(world: World, as_of: date) -> list[str]:
    with world.engine.begin() as conn:
        return close_lists(
            conn, as_of=as_of, now=datetime(2026, 12, 20, tzinfo=UTC), params=world.params
        ).closed


def test_lists_close_the_day_after_the_return_window(world: World) -> None:
    released, held = world.lists_at(800), world.lists_at(300) + world.lists_at(500)
    assert released and held
    assert _close(world, LAST_DAY) == []  # still within the window: a return may still come
    assert world.lists_at(899) == []
    closed = _close(world, date(2026, 12, 13))
    assert closed == released
    assert world.lists_at(899) == released and world.lists_at(800) == []
    assert sorted(world.lists_at(300) + world.lists_at(500)) == sorted(held)  # held lists never close
    guid = world.original(released[0])[0]["guid"]
    final = answers(world, "CEB622Message", guid)[-1]
    assert final["returnStatus"] == "899" and "2026-12-12" in final["returnInfo"]
    assert assert_receipts_valid(world)


def test_closing_twice_changes_nothing(world: World) -> None:
    assert _close(world, date(2026, 12, 13))
    before = snapshot(world)
    assert _close(world, date(2026, 12, 13)) == []
    assert _close(world, date(2027, 1, 31)) == []
    assert snapshot(world) == before


def test_a_list_released_after_review_closes_on_its_own_date(world: World) -> None:
    key = world.lists_at(300)[0]
    with world.engine.begin() as conn:
        record_result(
            conn,
            kind="review",
            result="release",
            list_key=key,
            officer="关员 1",
            at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    assert key not in _close(world, date(2026, 12, 13))
    assert world.status(key) == 800
    assert _close(world, date(2026, 12, 31)) == []  # 2026-12-01 + 30 days = 2026-12-31, the last day
    assert _close(world, date(2027, 1, 1)) == [key]


def test_close_command(world: World) -> None:
    from cbec.cli import app

    released = world.lists_at(800)
    runner = CliRunner()
    args = [
        "close",
        "--database",
        world.engine.url.render_as_string(hide_password=False),
        "--now",
        "2026-12-13T02:00:00",
        "--json",
    ]
    first = runner.invoke(app, [*args, "--as-of", "2026-12-13", "--outbox", str(world.root / "out")])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["closed"] == len(released) > 0
    assert list((world.root / "out").rglob("CEB622Message-*.xml"))
    second = runner.invoke(app, [*args, "--as-of", "2026-12-13"])
    assert second.exit_code == 0 and json.loads(second.stdout)["closed"] == 0
    bad = runner.invoke(app, [*args, "--as-of", "13/12/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
