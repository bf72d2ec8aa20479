"""Recording an officer's result on a list held for manual review (人工审核, 300) or inspection (查验, 500).

One call is one step in the caller's transaction: the result is checked against the list's status
(:mod:`cbec.rules.lifecycle`), the list moves on, the decision and the officer's result are logged, the quota
and tax bill are given back when the list will not be imported, and the CEB622 receipts (and a CEB818 for a
voided tax bill) go into the outbox.  An illegal result raises :class:`LifecycleError` and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from cbec.engine import ledger as ledger_engine
from cbec.engine import lists as L
from cbec.params import code_table
from cbec.rules.lifecycle import (
    CONCLUDED,
    RELEASED,
    REVIEW_REFUSAL_CODE,
    STATUS_NAMES,
    LifecycleError,
    officer_transition,
)
from cbec.store import aftercare as store
from cbec.store import outbox as outbox_repo


@dataclass(frozen=True)
class OfficerOutcome:
    list_key: str
    invt_no: str | None
    kind: str
    result: str
    from_status: int
    to_status: int
    receipts: int
    quota_fen: int
    """Quota given back (≤ 0)."""
    tax_fen: int
    """Tax no longer due (≤ 0)."""

    def to_json(self) -> dict[str, object]:
        return {
            "list_key": self.list_key,
            "invtNo": self.invt_no,
            "kind": self.kind,
            "result": self.result,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "receipts": self.receipts,
            "quota_given_back_fen": -self.quota_fen,
            "tax_voided_fen": -self.tax_fen,
        }


def find_list(conn: Connection, *, list_key: str | None = None, invt_no: str | None = None) -> str:
    """The list key of a list named by its key or its customs number; LifecycleError if there is none."""
    if (list_key is None) == (invt_no is None):
        raise LifecycleError(
            "请给出清单编号或清单业务主键（二选一）", "give either the list number or the list key"
        )
    if invt_no is not None:
        found = store.list_keys_by_invt_nos(conn, [invt_no]).get(invt_no)
        if found is None:
            raise LifecycleError(
                f"系统中不存在清单编号为{invt_no}的清单", f"no list numbered {invt_no} exists"
            )
        return found
    assert list_key is not None
    return list_key


def record_result(
    conn: Connection,
    *,
    kind: str,
    result: str,
    officer: str,
    at: datetime,
    list_key: str | None = None,
    invt_no: str | None = None,
    reason_zh: str | None = None,
    reason_en: str | None = None,
    code: str | None = None,
) -> OfficerOutcome:
    """Record a review (``kind="review"``: release | refuse) or inspection result (``kind="inspection"``:
    pass | detain-clearance | detain-smuggling | detain-legal | detain-other | return) and move the list on.

    Refusals, detentions and returns abroad need a reason in both Chinese and English; a refusal carries an
    official code (default −621003, or ``code`` if it is a known import-list business error code).
    """
    if not officer.strip():
        raise LifecycleError("请注明经办关员", "the officer must be named")
    key = find_list(conn, list_key=list_key, invt_no=invt_no)
    stored = L.load(conn, [key], for_update=True)
    ref = stored.refs.get(key)
    if ref is None:
        raise LifecycleError(f"系统中不存在业务主键为{key}的清单", f"no list with key {key} exists")
    t = officer_transition(kind, result, ref.status)
    zh, en = (reason_zh or "").strip(), (reason_en or "").strip()
    if t.needs_reason and not (zh and en):
        raise LifecycleError(
            f"结果“{result}”须注明中文和英文原因",
            f"a {result!r} result needs a reason in Chinese and in English",
        )
    if t.to_status == 100:
        code = code or REVIEW_REFUSAL_CODE
        entry = code_table("business_error").get(code)
        if entry is None or entry.attr("family") != "import_list":
            raise LifecycleError(
                f"退单代码{code}不是清单业务错误代码", f"{code} is not a business error code of import lists"
            )
    elif code is not None:
        raise LifecycleError("只有退单才带错误代码", "only a refusal carries an error code")
    full_zh = f"{t.zh}：{zh}" if zh else t.zh
    full_en = f"{t.en}: {en}" if en else t.en
    to_status, statuses, rule = t.to_status, t.chain, f"{kind}:{result}"
    if to_status == RELEASED:
        # a 1210 list on a bonded ledger filed in cbec is released only if its ledger covers it (written off
        # now); otherwise it is held at 399 with the ledger's reason until stock arrives
        check = ledger_engine.check_release(conn, stored, key, actor=officer.strip(), at=at)
        if not check.release:
            to_status, rule = CONCLUDED, f"{rule}+ledger-hold"
            statuses = tuple(s for s in t.chain if s != RELEASED) or (CONCLUDED,)
            full_zh = f"{full_zh}；账册扣减不足，暂不放行：{check.reason_zh}"
            full_en = f"{full_en}; not released, the ledger cannot cover it: {check.reason_en}"
    if not L.record_move(
        conn,
        ref,
        to_status,
        rule=rule,
        reason_zh=full_zh,
        reason_en=full_en,
        at=at,
        code=code,
    ):
        raise LifecycleError(
            f"清单{key}的状态已被更改，请重新查询后再试",
            f"list {key} changed status meanwhile; look it up again",
        )
    given = L.give_back_all(conn, [key], at=at)[key] if t.gives_back else L.GivenBack()
    store.record_officer_result(
        conn,
        store.OfficerResult(
            list_key=key,
            invt_no=ref.invt_no,
            kind=kind,
            result=result,
            from_status=ref.status,
            to_status=to_status,
            officer=officer.strip(),
            reason_zh=full_zh,
            reason_en=full_en,
            decided_at=L.aware_utc(at),
            code=code,
        ),
    )
    chain = [
        L.ListReceipt(
            key,
            status,
            L.return_info(code if status == 100 else None, full_zh, full_en)
            if status == to_status
            else L.return_info(None, *STATUS_NAMES[status]),
            at + timedelta(milliseconds=i),
        )
        for i, status in enumerate(statuses)
    ]
    receipts = L.list_receipts(stored, chain) + L.tax_status_receipts(stored, given.voided, at)
    outbox_repo.enqueue(conn, receipts)
    return OfficerOutcome(
        key, ref.invt_no, kind, result, ref.status, to_status, len(receipts), given.quota_fen, given.tax_fen
    )
