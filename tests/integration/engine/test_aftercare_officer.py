"""Officers' results on held lists: manual review (300) and inspection (500), with their receipts and ledgers.

Real components: a generated corpus cleared into SQLite (20 % review, 20 % inspection), then results recorded
through :func:`cbec.engine.review.record_result` and the ``cbec review`` / ``cbec inspect`` commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from _aftercare_testlib import (
    World,
    accepted_fen,
    answers,
    assert_receipts_valid,
    bill,
    net_due,
    quota_used,
    snapshot,
)
from sqlalchemy import select
from typer.testing import CliRunner

from cbec.engine.review import OfficerOutcome, record_result
from cbec.messages.decode import decode
from cbec.rules.lifecycle import LifecycleError
from cbec.service.history import Handles, parcel_history
from cbec.store import aftercare as store
from cbec.store import outbox, tax
from cbec.store.schema import decision

AT = datetime(2026, 11, 13, 9, 30, tzinfo=UTC)


def _record(world: World, **kw: Any) -> OfficerOutcome:
    kw.setdefault("officer", "关员 0421")
    with world.engine.begin() as conn:
        return record_result(conn, at=AT, **kw)


def _statuses(world: World, list_key: str) -> list[str]:
    guid = world.original(list_key)[0]["guid"]
    return [a["returnStatus"] for a in answers(world, "CEB622Message", guid)]


def test_review_release_concludes_then_releases(world: World) -> None:
    key = world.lists_at(300)[0]
    used, due = quota_used(world, key), net_due(world, key)
    outcome = _record(world, kind="review", result="release", list_key=key)
    assert world.status(key) == 800
    assert _statuses(world, key) == ["120", "300", "399", "800"]  # 399 then 800, a millisecond apart
    # the list had counted against the quota and been billed when it entered customs' system: unchanged
    assert quota_used(world, key) == used and net_due(world, key) == due and bill(world, key).status == 1
    with world.engine.connect() as conn:
        released = store.list_refs(conn, [key])[key].released_at
        results = store.officer_results(conn, [key])[key]
    assert released == AT  # the 30-day return window runs from here
    assert [(r.kind, r.result, r.from_status, r.to_status, r.officer) for r in results] == [
        ("review", "release", 300, 800, "关员 0421")
    ]
    assert outcome.receipts == 1
    assert assert_receipts_valid(world)


def test_review_refusal_gives_the_quota_back_and_voids_the_bill(world: World) -> None:
    key = world.lists_at(300)[1]
    used, amount, issued = quota_used(world, key), accepted_fen(world, key), bill(world, key)
    assert amount > 0 and issued.status == tax.GENERATED
    _record(
        world, kind="review", result="refuse", list_key=key, reason_zh="申报品名不实", reason_en="misdeclared"
    )
    assert world.status(key) == 100
    guid = world.original(key)[0]["guid"]
    final = answers(world, "CEB622Message", guid)[-1]
    assert final["returnStatus"] == "100"
    assert final["returnInfo"].startswith("-621003 ")
    assert "申报品名不实" in final["returnInfo"] and "misdeclared" in final["returnInfo"]
    # filed under the list's key, so the parcel's history shows the officer's receipt too
    with world.engine.connect() as conn:
        assert any(b"-621003" in r.xml for r in outbox.by_business_keys(conn, [key]))
        history = parcel_history(conn, Handles(guid=guid))
    assert "100" in [e.get("returnStatus") for r in history.receipts for e in r["entries"]]
    assert quota_used(world, key) == used - amount
    assert bill(world, key).status == tax.VOID and net_due(world, key) == (0, 0, 0)
    with world.engine.connect() as conn:
        adjustments = tax.adjustments_by_tax_nos(conn, [issued.tax_no])[issued.tax_no]
        logged = conn.execute(
            select(decision.c.status, decision.c.code)
            .where(decision.c.list_key == key)
            .order_by(decision.c.id)
        ).all()
    assert [(a.kind, a.customs_tax_fen + a.vat_fen + a.ct_fen) for a in adjustments] == [
        ("void", -(issued.customs_tax_fen + issued.vat_fen + issued.ct_fen))
    ]
    assert logged[-1] == (100, "-621003")
    statuses = [decode(x).documents[0].head for _t, x in world.receipts("CEB818Message")]
    assert [(str(h["taxNo"]), str(h["status"])) for h in statuses] == [(issued.tax_no, "3")]
    assert assert_receipts_valid(world)


def test_inspection_results(world: World) -> None:
    passed, detained, returned = world.lists_at(500)[:3]
    used = {k: quota_used(world, k) for k in (passed, returned)}
    _record(world, kind="inspection", result="pass", invt_no=world.invt_no(passed))
    assert world.status(passed) == 800 and _statuses(world, passed)[-1] == "800"
    assert quota_used(world, passed) == used[passed]

    _record(
        world,
        kind="inspection",
        result="detain-smuggling",
        list_key=detained,
        reason_zh="疑似走私",
        reason_en="suspected smuggling",
    )
    assert world.status(detained) == 502 and _statuses(world, detained)[-1] == "502"
    _record(
        world,
        kind="inspection",
        result="pass",
        list_key=detained,
        reason_zh="已结案",
        reason_en="case closed",
    )
    assert world.status(detained) == 800 and _statuses(world, detained)[-2:] == ["502", "800"]

    amount = accepted_fen(world, returned)
    _record(
        world, kind="inspection", result="return", list_key=returned, reason_zh="禁止进境", reason_en="banned"
    )
    assert world.status(returned) == 700 and _statuses(world, returned)[-1] == "700"
    assert quota_used(world, returned) == used[returned] - amount
    assert bill(world, returned).status == tax.VOID
    assert assert_receipts_valid(world)


@pytest.mark.parametrize(
    ("status", "kw", "zh_part", "en_part"),
    [
        (
            800,
            {"kind": "review", "result": "release"},
            "不能记录人工审核结果",
            "applies only to lists at 300",
        ),
        (300, {"kind": "inspection", "result": "pass"}, "不能记录查验结果", "applies only to lists at 500"),
        (500, {"kind": "inspection", "result": "seize"}, "未知的查验结果", "unknown inspection result"),
        (300, {"kind": "review", "result": "refuse"}, "须注明中文和英文原因", "needs a reason"),
        (
            300,
            {"kind": "review", "result": "refuse", "reason_zh": "x", "reason_en": "x", "code": "-301010"},
            "不是清单业务错误代码",
            "not a business error code of import lists",
        ),
        (300, {"kind": "review", "result": "release", "officer": " "}, "经办关员", "officer"),
        (
            500,
            {
                "kind": "inspection",
                "result": "detain-other",
                "reason_zh": "x",
                "reason_en": "y",
                "invt_no": "99992026I999999999",
            },
            "不存在清单编号",
            "no list numbered",
        ),
    ],
)
def test_illegal_results_are_refused_and_change_nothing(
    world: World, status: int, kw: dict[str, Any], zh_part: str, en_part: str
) -> None:
    key = world.lists_at(status)[0]
    if "invt_no" not in kw:
        kw = {**kw, "list_key": key}
    before = snapshot(world)
    with pytest.raises(LifecycleError) as err:
        _record(world, **kw)
    assert zh_part in err.value.zh and en_part in err.value.en
    assert zh_part in str(err.value) and en_part in str(err.value)
    assert snapshot(world) == before


def test_a_list_is_reviewed_once(world: World) -> None:
    key = world.lists_at(300)[0]
    _record(world, kind="review", result="release", list_key=key)
    before = snapshot(world)
    with pytest.raises(LifecycleError, match="800"):
        _record(world, kind="review", result="refuse", list_key=key, reason_zh="迟到", reason_en="late")
    assert snapshot(world) == before


def test_review_and_inspect_commands(world: World) -> None:
    from cbec.cli import app

    url = world.engine.url.render_as_string(hide_password=False)
    outbox = world.root / "cli-outbox"
    key = world.lists_at(300)[0]
    runner = CliRunner()
    args = ["review", "--database", url, "--invt-no", world.invt_no(key), "--officer", "关员 7", "--outbox"]
    done = runner.invoke(app, [*args, str(outbox), "--result", "release", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert (report["from_status"], report["to_status"], report["receipts"]) == (300, 800, 1)
    files = list(outbox.rglob("CEB622Message-*.xml"))
    assert files and any(b"<ceb:returnStatus>800</ceb:returnStatus>" in f.read_bytes() for f in files)

    again = runner.invoke(app, [*args, str(outbox), "--result", "release"])
    assert again.exit_code == 2
    assert "不能记录人工审核结果" in again.output and "applies only to lists at 300" in again.output

    held = world.lists_at(500)[0]
    inspected = runner.invoke(
        app,
        [
            *("inspect", "--database", url, "--list-key", held, "--officer", "关员 8"),
            *("--result", "detain-legal", "--reason-zh", "需法规处理", "--reason-en", "legal department"),
        ],
    )
    assert inspected.exit_code == 0, inspected.output
    assert world.status(held) == 503
