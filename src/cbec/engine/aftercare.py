"""Cancellations (撤单, CEB623) and returns (退货, CEB625) of released import lists, answered with CEB624/626.

:func:`process` handles the CEB623/625 messages of a batch inside the batch's transaction (the clearance
shell calls it, see :meth:`cbec.engine.clear.Clearer._process`).  Each application names the original list by
``invtNo`` and must repeat its ``orderNo``, ``ebpCode`` and buyer; the checks, in order, and the codes of a
refusal (receipt status 100, the code and reason in 中文 / English in ``returnInfo``):

cancellation (CEB623)
    ``appType`` 1 only (−623001) · the list exists (−623003) · same order, platform and buyer (−623001) ·
    not cancelled already (−623009) · released (800), not closed, no return accepted, and still within the
    return-application window (−623005).
return (CEB625)
    ``appType`` 1 only (−625001) · the list exists (−625016) · same order, platform and buyer (−625001) ·
    released and not closed (−625901) · within the window: ``import.retail.return.application_days`` after
    the release day (−625902) · not the same ``copNo`` as a return already accepted (−625033) · lines: at
    least one (−625006), each ``gnum`` once (−625001), on the original list with its ``gcode`` (−625209), the
    same unit (−625001), a positive quantity (−625001) no larger than the original quantity less what earlier
    returns took (−625903).  The three −6259xx codes are cbec's own (the spec has none for these cases).

An accepted application gets the receipts 120 then 399 and has its effects in the same transaction:

* cancellation: the list closes (899, decision ``cancel``, CEB622 899); the quota it holds goes back to the
  buyer (movement ``cancel``); its e-tax bill becomes void (status 3, CEB818);
* return: the returned lines are recorded with their share of the list's dutiable value and taxes (each
  line's share is its returned fraction of that line; a return that completes a line or the list takes what
  is left, to the fen); the quota share goes back (movement ``return``, keyed ``<list key>#<application
  guid>`` since a list may come back in parts) and the tax bill is reduced by the tax share (an adjustment
  ``return``, a refund if the bill was already summarised).  A return that brings the whole list back closes
  it (899, decision ``return``) and voids its bill.

Idempotent: an application whose guid was decided before (in this batch or an earlier one) is skipped
without a second receipt.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Connection

from cbec.engine import ledger as ledger_engine
from cbec.engine import lists as L
from cbec.messages.columns import ColumnBatch
from cbec.params.dated import ParameterSet
from cbec.privacy.masking import mask_record
from cbec.rules import lifecycle as R
from cbec.rules.tax import assess
from cbec.store import aftercare as store
from cbec.store import documents as documents_repo
from cbec.store import outbox as outbox_repo
from cbec.store import quota as quota_repo
from cbec.store import tax as tax_repo

#: message type -> (kind, head entity, receipt type)
MESSAGES: Mapping[str, tuple[str, str, str]] = {
    "CEB623Message": ("cancel", "InvtCancel", "CEB624Message"),
    "CEB625Message": ("return", "InvtRefundHead", "CEB626Message"),
}
RETURN_LINES = ("CEB625Message", "InvtRefundList")

_ACCEPTED_TEXT = {
    "cancel": ("撤单申请审核通过，清单已撤销", "cancellation accepted; the list is cancelled"),
    "return": ("退货申请审核通过", "return accepted"),
}


@dataclass
class _Refusal(Exception):
    code: str
    zh: str
    en: str


@dataclass
class _Effects:
    """Everything the accepted and refused applications of one batch write."""

    documents: list[documents_repo.NewDocument] = field(default_factory=list)
    applications: list[store.Application] = field(default_factory=list)
    return_lines: list[store.ReturnLine] = field(default_factory=list)
    movements: list[quota_repo.QuotaMovement] = field(default_factory=list)
    adjustments: list[tax_repo.TaxAdjustment] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fully_returned: list[str] = field(default_factory=list)
    receipt_rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def process(
    conn: Connection,
    batch: ColumnBatch,
    indices: Iterable[int],
    *,
    now: datetime,
    params: ParameterSet,
    hs: pl.DataFrame | None = None,
    inbox_ids: Mapping[int, int] | None = None,
    batch_id: int | None = None,
) -> tuple[list[outbox_repo.Receipt], dict[str, int]]:
    """Decide the CEB623/CEB625 applications among the messages ``indices`` of ``batch``.

    Other message types among ``indices`` are ignored.  Writes the outcomes, the documents (when
    ``inbox_ids`` maps batch positions to inbox rows), the list moves and the ledger changes with ``conn``;
    returns the receipts to enqueue (CEB624/626, and CEB622/CEB818 for lists closed by the applications) and
    counts (``cancel_accepted``, ``cancel_refused``, ``return_accepted``, ``return_refused``, ``repeats``).
    """
    types = batch.messages["message_type"]
    wanted = sorted(i for i in set(indices) if types[i] in MESSAGES)
    if not wanted:
        return [], {}
    apps = _applications(batch, wanted)
    if apps.height == 0:
        return [], {}
    effects = _Effects()
    known = {
        kind: store.known_applications(conn, kind, apps.filter(pl.col("kind") == kind)["guid"].to_list())
        for kind in ("cancel", "return")
    }
    seen: set[tuple[str, str]] = set()
    fresh = []
    for row in apps.iter_rows(named=True):
        ident = (row["kind"], row["guid"])
        if ident in seen or row["guid"] in known[row["kind"]]:
            effects.counts["repeats"] += 1
            continue
        seen.add(ident)
        fresh.append(row)
    if not fresh:
        return [], dict(effects.counts)

    keys_of = store.list_keys_by_invt_nos(conn, {r["invtNo"] for r in fresh})
    list_keys = sorted(set(keys_of.values()))
    state = _State.load(
        conn,
        list_keys,
        params=params,
        hs=hs,
        returns=[r for r in fresh if r["kind"] == "return"],
        keys_of=keys_of,
    )
    lines_of = _return_lines(batch, wanted)
    at = L.aware_utc(now)
    for row in fresh:
        key = keys_of.get(row["invtNo"])
        try:
            if row["kind"] == "cancel":
                _cancel(row, key, state, now, params, effects)
            else:
                _return(row, key, state, lines_of.get((row["_msg"], row["_doc"]), []), now, params, effects)
        except _Refusal as refusal:
            _refuse(row, key, refusal, at, batch_id, effects)
        else:
            _accept(row, key, state, at, batch_id, effects)
        _document(row, lines_of.get((row["_msg"], row["_doc"]), []), inbox_ids, at, effects)
    return _write(conn, state, effects, now, batch_id, params), dict(effects.counts)


# --- reading the batch -----------------------------------------------------------------------------------
def _applications(batch: ColumnBatch, wanted: list[int]) -> pl.DataFrame:
    frames = []
    senders = batch.messages.select("_msg", pl.col("copCode").alias("sender"))
    for mtype, (kind, entity, _receipt) in MESSAGES.items():
        table = batch.tables.get((mtype, entity))
        if table is None or table.height == 0:
            continue
        part = table.filter(pl.col("_msg").is_in(wanted))
        if part.height:
            frames.append(
                part.join(senders, on="_msg", how="left").with_columns(
                    pl.lit(kind).alias("kind"), pl.lit(mtype).alias("message_type")
                )
            )
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").sort("_msg", "_doc")


def _return_lines(batch: ColumnBatch, wanted: list[int]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    table = batch.tables.get(RETURN_LINES)
    out: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    if table is None or table.height == 0:
        return out
    for row in table.filter(pl.col("_msg").is_in(wanted)).sort("_msg", "_doc", "_line").iter_rows(named=True):
        out[(row["_msg"], row["_doc"])].append(row)
    return out


# --- what the store knows about the lists, kept up to date while the batch is decided ---------------------
@dataclass
class _State:
    stored: L.StoredLists
    status: dict[str, int]
    values: dict[str, dict[int, R.LineValue]]
    units: dict[str, dict[int, tuple[str, str]]]  # list -> gnum -> (gcode, unit)
    taken: dict[str, dict[int, R.LineShare]]  # what accepted returns took so far, per line
    cancelled: set[str]
    returned_any: set[str]
    return_cop_nos: dict[str, set[str]]
    accepted: dict[str, store.AcceptedQuota]
    quota_back: dict[str, int]  # fen given back so far (≥ 0)
    bills: dict[str, tax_repo.TaxBillRow]
    tax_back: dict[str, tuple[int, int, int]]  # (duty, vat, ct) taken off so far (≥ 0)

    @classmethod
    def load(
        cls,
        conn: Connection,
        list_keys: list[str],
        *,
        params: ParameterSet,
        hs: pl.DataFrame | None,
        returns: list[dict[str, Any]],
        keys_of: dict[str, str],
    ) -> _State:
        stored = L.load(conn, list_keys, for_update=True)
        earlier = store.applications_by_list_keys(conn, list_keys)
        before = store.returned(conn, list_keys)
        bills = tax_repo.bills_by_list_keys(conn, list_keys)
        adjustments = tax_repo.adjustments_by_tax_nos(conn, [b.tax_no for b in bills.values()])
        returning = sorted(
            {keys_of[r["invtNo"]] for r in returns if r["invtNo"] in keys_of} & set(stored.refs)
        )
        values, units = _line_values(stored, returning, params, hs)
        tax_back = {}
        for key, bill in bills.items():
            adj = adjustments.get(bill.tax_no, [])
            tax_back[key] = (
                -sum(a.customs_tax_fen for a in adj),
                -sum(a.vat_fen for a in adj),
                -sum(a.ct_fen for a in adj),
            )
        return cls(
            stored=stored,
            status={k: r.status for k, r in stored.refs.items()},
            values=values,
            units=units,
            taken={
                k: {
                    g: R.LineShare(g, b.qty, b.dutiable_fen, b.customs_tax_fen, b.vat_fen, b.ct_fen)
                    for g, b in v.items()
                }
                for k, v in before.items()
            },
            cancelled={
                k for k, rows in earlier.items() if any(a.kind == "cancel" and a.status == 399 for a in rows)
            },
            returned_any={
                k for k, rows in earlier.items() if any(a.kind == "return" and a.status == 399 for a in rows)
            },
            return_cop_nos={
                k: {a.cop_no for a in rows if a.kind == "return" and a.status == 399 and a.cop_no}
                for k, rows in earlier.items()
            },
            accepted=store.accepted_quota(conn, list_keys),
            quota_back={k: sum(b.dutiable_fen for b in v.values()) for k, v in before.items()},
            bills=bills,
            tax_back=tax_back,
        )


def _fen(value: Any) -> int:
    return int((Decimal(str(value)) * 100).quantize(Decimal(1))) if value is not None else 0


def _line_values(
    stored: L.StoredLists, keys: list[str], params: ParameterSet, hs: pl.DataFrame | None
) -> tuple[dict[str, dict[int, R.LineValue]], dict[str, dict[int, tuple[str, str]]]]:
    """Each line's quantity, dutiable value and taxes (fen), assessed again as the clearance engine did."""
    values: dict[str, dict[int, R.LineValue]] = {}
    units: dict[str, dict[int, tuple[str, str]]] = {}
    if not keys or stored.lines.height == 0:
        return values, units
    if hs is None:
        from cbec.params.hs import load_cbec_hs

        hs = load_cbec_hs().frame()
    lines = stored.lines.filter(pl.col("list_key").is_in(keys))
    heads = stored.heads.filter(pl.col("list_key").is_in(keys)).select(
        "list_key", "freight", "insuredFee", pl.col("declTime").alias("declDate")
    )
    taxed = assess(lines.join(heads, on="list_key", how="left"), on="declDate", params=params, hs=hs)
    for r in taxed.iter_rows(named=True):
        gnum = int(r["gnum"])
        values.setdefault(r["list_key"], {})[gnum] = R.LineValue(
            gnum,
            Decimal(str(r["qty"])),
            _fen(r["dutiable_value"]),
            _fen(r["duty"]),
            _fen(r["vat"]),
            _fen(r["ct"]),
        )
        units.setdefault(r["list_key"], {})[gnum] = (str(r["gcode"]), str(r["unit"]))
    return values, units


# --- the checks ------------------------------------------------------------------------------------------
def _norm(value: Any) -> str:
    return str(value or "").strip().upper()


def _identity(row: dict[str, Any], head: dict[str, Any], code: str, what: str) -> None:
    """The application must repeat the original list's order, platform and buyer."""
    for name, zh in (
        ("orderNo", "订单编号"),
        ("ebpCode", "电商平台代码"),
        ("buyerIdNumber", "订购人证件号码"),
        ("buyerName", "订购人姓名"),
    ):
        if _norm(row.get(name)) != _norm(head.get(name)):
            raise _Refusal(
                code,
                f"{what}校验失败，{zh}（{name}）与原清单{row['invtNo']}不一致",
                f"{'Cancellation' if what == '撤单申请' else 'Return application'} failed validation: "
                f"{name} differs from the original list {row['invtNo']}",
            )


def _found(row: dict[str, Any], key: str | None, state: _State, code: str) -> tuple[str, dict[str, Any]]:
    if key is None or key not in state.stored.refs:
        if row["kind"] == "cancel":
            raise _Refusal(
                code,
                f"系统中不存在清单编号为{row['invtNo']}的清单！",
                f"No list numbered {row['invtNo']} exists",
            )
        raise _Refusal(
            code,
            f"查无此数据：不存在清单编号为{row['invtNo']}的清单",
            f"No such data: no list numbered {row['invtNo']}",
        )
    return key, state.stored.head(key)


def _window(key: str, state: _State, now: datetime, params: ParameterSet) -> tuple[bool, str]:
    released = state.stored.refs[key].released_at
    if released is None:
        return False, ""
    deadline = R.return_deadline(released, params)
    return R.within_return_window(released, now, params), deadline.isoformat()


def _cancel(
    row: dict[str, Any],
    key: str | None,
    state: _State,
    now: datetime,
    params: ParameterSet,
    effects: _Effects,
) -> None:
    if row["appType"] != "1":
        raise _Refusal(
            "-623001",
            "报文校验失败，撤单申请的appType只能为1（新增）",
            "Message failed validation: a cancellation's appType must be 1 (new)",
        )
    key, head = _found(row, key, state, "-623003")
    _identity(row, head, "-623001", "撤单申请")
    invt = row["invtNo"]
    if key in state.cancelled:
        raise _Refusal(
            "-623009", f"撤单清单{invt}已经申报过", f"A cancellation of list {invt} has already been accepted"
        )
    status = state.status[key]
    if status != R.RELEASED:
        raise _Refusal(
            "-623005",
            f"清单的状态不符合撤单申报要求(清单编号{invt})！当前状态：{R.status_zh(status)}",
            f"The list's status does not allow a cancellation (list no. {invt}): "
            f"it is at {R.status_en(status)}",
        )
    if key in state.returned_any:
        raise _Refusal(
            "-623005",
            f"清单的状态不符合撤单申报要求(清单编号{invt})！该清单已办理退货",
            f"The list's status does not allow a cancellation (list no. {invt}): goods have been returned",
        )
    ok, deadline = _window(key, state, now, params)
    if not ok:
        raise _Refusal(
            "-623005",
            f"清单的状态不符合撤单申报要求(清单编号{invt})！已超过放行之日起的退货撤单期限（{deadline}）",
            f"The list's status does not allow a cancellation (list no. {invt}): the window after release "
            f"ended on {deadline}",
        )
    state.cancelled.add(key)
    state.status[key] = R.CLOSED
    effects.cancelled.append(key)


def _return(
    row: dict[str, Any],
    key: str | None,
    state: _State,
    lines: list[dict[str, Any]],
    now: datetime,
    params: ParameterSet,
    effects: _Effects,
) -> None:
    guid, invt = row["guid"], row["invtNo"]
    if row["appType"] != "1":
        raise _Refusal(
            "-625001",
            "退货申请单报文校验失败，cbec只受理新增（appType=1）的退货申请",
            "Return application failed validation: only new applications (appType 1) are accepted",
        )
    key, head = _found(row, key, state, "-625016")
    _identity(row, head, "-625001", "退货申请单")
    status = state.status[key]
    if status != R.RELEASED:
        raise _Refusal(
            "-625901",
            f"退货申请单{guid}对应的清单{invt}状态为{R.status_zh(status)}，不允许退货",
            f"Return application {guid}: list {invt} is at {R.status_en(status)}, which allows no return",
        )
    ok, deadline = _window(key, state, now, params)
    if not ok:
        days = R.return_window_days(state.stored.refs[key].released_at or now, params)
        raise _Refusal(
            "-625902",
            f"退货申请单{guid}超过申报清单放行之日起{days}日的退货申请期限（截至{deadline}）",
            f"Return application {guid} is past the return window of {days} days from list release "
            f"(until {deadline})",
        )
    cop = _norm(row.get("copNo"))
    if cop and cop in {_norm(c) for c in state.return_cop_nos.get(key, set())}:
        raise _Refusal(
            "-625033",
            f"退货申请单{row['copNo']}已经申报过，请勿重复申报",
            f"Return application {row['copNo']} has already been declared; do not declare it again",
        )
    if not lines:
        raise _Refusal(
            "-625006",
            f"退货申请单{guid}表体无数据，不允许申报！",
            f"Return application {guid} has no lines and cannot be declared",
        )
    gnums = [int(line["gnum"]) for line in lines]
    if len(set(gnums)) != len(gnums):
        raise _Refusal(
            "-625001",
            "退货申请单报文校验失败，表体序号（gnum）重复",
            "Return application failed validation: a line number (gnum) repeats",
        )
    original = state.values.get(key, {})
    taken = state.taken.get(key, {})
    requested: dict[int, Decimal] = {}
    for line in lines:
        gnum, gcode = int(line["gnum"]), str(line["gcode"] or "")
        if gnum not in original or state.units[key][gnum][0] != gcode:
            raise _Refusal(
                "-625209",
                f"退货申请单{guid},在关联的清单中未找到表体序号为{gnum},商品编号为{gcode}的数据",
                f"Return application {guid}: the linked list has no line with number {gnum} "
                f"and HS code {gcode}",
            )
        if _norm(line["unit"]) != _norm(state.units[key][gnum][1]):
            raise _Refusal(
                "-625001",
                f"退货申请单报文校验失败，第{gnum}项计量单位{line['unit']}与原清单（{state.units[key][gnum][1]}）不一致",
                f"Return application failed validation: line {gnum} unit {line['unit']} "
                "differs from the original list",
            )
        qty = Decimal(str(line["qty"])) if line["qty"] is not None else Decimal(0)
        if qty <= 0:
            raise _Refusal(
                "-625001",
                f"退货申请单报文校验失败，第{gnum}项退货数量须大于0",
                f"Return application failed validation: line {gnum} quantity must be positive",
            )
        left = original[gnum].qty - (taken[gnum].qty if gnum in taken else Decimal(0))
        if qty > left:
            raise _Refusal(
                "-625903",
                f"退货申请单{guid}表体第{gnum}项退货数量{_num(qty)}超过可退数量{_num(left)}",
                f"Return application {guid}, line {gnum}: quantity {_num(qty)} exceeds what may "
                f"still be returned ({_num(left)})",
            )
        requested[gnum] = qty
    shares = R.returned_shares(original, taken, requested)
    merged = dict(taken)
    for s in shares:
        prev = merged.get(s.gnum)
        merged[s.gnum] = (
            R.LineShare(
                s.gnum,
                prev.qty + s.qty,
                prev.dutiable_fen + s.dutiable_fen,
                prev.customs_tax_fen + s.customs_tax_fen,
                prev.vat_fen + s.vat_fen,
                prev.ct_fen + s.ct_fen,
            )
            if prev
            else s
        )
    complete = R.fully_returned(original, [merged])
    state.taken[key] = merged
    state.returned_any.add(key)
    if cop:
        state.return_cop_nos.setdefault(key, set()).add(cop)
    quota_fen = sum(s.dutiable_fen for s in shares)
    duty, vat, ct = (
        sum(s.customs_tax_fen for s in shares),
        sum(s.vat_fen for s in shares),
        sum(s.ct_fen for s in shares),
    )
    if complete:  # the whole list is back: give back exactly what is left, whatever the line rounding did
        state.status[key] = R.CLOSED
        effects.fully_returned.append(key)
        if key in state.accepted:
            quota_fen = state.accepted[key].amount_fen - state.quota_back.get(key, 0)
        if key in state.bills:
            b, back = state.bills[key], state.tax_back.get(key, (0, 0, 0))
            duty, vat, ct = b.customs_tax_fen - back[0], b.vat_fen - back[1], b.ct_fen - back[2]
    effects.return_lines += [
        store.ReturnLine(key, guid, s.gnum, s.qty, s.dutiable_fen, s.customs_tax_fen, s.vat_fen, s.ct_fen)
        for s in shares
    ]
    row["_quota_fen"], row["_tax"] = 0, (0, 0, 0)
    if key in state.accepted and quota_fen > 0:
        q = state.accepted[key]
        effects.movements.append(
            quota_repo.QuotaMovement(q.buyer_key, q.year, f"{key}#{guid}", "return", -quota_fen)
        )
        state.quota_back[key] = state.quota_back.get(key, 0) + quota_fen
        row["_quota_fen"] = quota_fen
    if key in state.bills and state.bills[key].status != tax_repo.VOID:
        bill = state.bills[key]
        effects.adjustments.append(
            tax_repo.TaxAdjustment(
                bill.tax_no,
                guid,
                tax_repo.RETURN_KIND,
                -duty,
                -vat,
                -ct,
                refund=bill.status == tax_repo.SUMMARISED,
            )
        )
        back = state.tax_back.get(key, (0, 0, 0))
        state.tax_back[key] = (back[0] + duty, back[1] + vat, back[2] + ct)
        row["_tax"] = (duty, vat, ct)


def _num(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- outcomes ---------------------------------------------------------------------------------------------
def _receipt_row(row: dict[str, Any], status: int, info: str, at: datetime) -> dict[str, Any]:
    invt = row["invtNo"] if row["invtNo"] and len(row["invtNo"]) == 18 else None
    pre = row["preNo"] if row["preNo"] and len(row["preNo"]) == 18 else None
    return {
        "recipient": row["sender"],
        "guid": row["guid"],
        "customsCode": row["customsCode"],
        "agentCode": row["agentCode"],
        "ebpCode": row["ebpCode"],
        "ebcCode": row["ebcCode"],
        "copNo": row["copNo"] or (row["orderNo"] or "")[:20],
        "preNo": pre,
        "appTime": row["appTime"],
        "invtNo": invt,
        "returnStatus": str(status),
        "returnTime": L.naive_utc(at),
        "returnInfo": info,
    }


def _accept(
    row: dict[str, Any], key: str | None, state: _State, at: datetime, batch_id: int | None, effects: _Effects
) -> None:
    kind = row["kind"]
    zh, en = _ACCEPTED_TEXT[kind]
    if kind == "return" and key in effects.fully_returned:
        zh, en = zh + "，清单全部退货，结关", en + "; the whole list is returned and closed"
    elif kind == "return":
        zh, en = zh + "（部分退货）", en + " (part of the list)"
    duty, vat, ct = row.get("_tax", (0, 0, 0))
    effects.applications.append(
        store.Application(
            kind=kind,
            guid=row["guid"],
            invt_no=row["invtNo"],
            list_key=key,
            status=R.CONCLUDED,
            reason_zh=zh,
            reason_en=en,
            decided_at=at,
            cop_no=(row["copNo"] or None),
            sender=row["sender"],
            quota_fen=-int(row.get("_quota_fen", 0)),
            tax_fen=-(duty + vat + ct),
            batch_id=batch_id,
        )
    )
    rows = effects.receipt_rows[row["message_type"]]
    rows.append(
        _receipt_row(row, R.ACCEPTED, L.return_info(None, "海关入库", "accepted into customs' system"), at)
    )
    rows.append(_receipt_row(row, R.CONCLUDED, L.return_info(None, zh, en), at + timedelta(milliseconds=1)))
    effects.counts[f"{kind}_accepted"] += 1
    row["_status"] = R.CONCLUDED


def _refuse(
    row: dict[str, Any],
    key: str | None,
    refusal: _Refusal,
    at: datetime,
    batch_id: int | None,
    effects: _Effects,
) -> None:
    effects.applications.append(
        store.Application(
            kind=row["kind"],
            guid=row["guid"],
            invt_no=row["invtNo"],
            list_key=key,
            status=R.REFUSED,
            reason_zh=refusal.zh,
            reason_en=refusal.en,
            decided_at=at,
            code=refusal.code,
            cop_no=(row["copNo"] or None),
            sender=row["sender"],
            batch_id=batch_id,
        )
    )
    effects.receipt_rows[row["message_type"]].append(
        _receipt_row(row, R.REFUSED, L.return_info(refusal.code, refusal.zh, refusal.en), at)
    )
    effects.counts[f"{row['kind']}_refused"] += 1
    row["_status"] = R.REFUSED


def _document(
    row: dict[str, Any],
    lines: list[dict[str, Any]],
    inbox_ids: Mapping[int, int] | None,
    at: datetime,
    effects: _Effects,
) -> None:
    if inbox_ids is None or row["_msg"] not in inbox_ids:
        return
    head = {k: v for k, v in row.items() if not k.startswith("_") and k not in ("kind", "message_type")}
    if lines:
        head["lines"] = [{k: v for k, v in line.items() if not k.startswith("_")} for line in lines]
    effects.documents.append(
        documents_repo.NewDocument(
            kind=row["kind"],
            guid=row["guid"],
            business_key=f"{row['invtNo']}|{row['guid']}",
            inbox_id=inbox_ids[row["_msg"]],
            # a copy for display: personal fields masked (the inbox keeps the message, encrypted)
            payload=json.dumps(mask_record(head), ensure_ascii=False, default=str),
            status=int(row["_status"]),
            app_type=(row["appType"] or "1")[:1],
            received_at=at,
        )
    )


def _write(
    conn: Connection,
    state: _State,
    effects: _Effects,
    now: datetime,
    batch_id: int | None,
    params: ParameterSet,
) -> list[outbox_repo.Receipt]:
    at = L.aware_utc(now)
    documents_repo.insert_documents(conn, effects.documents)
    list_rows: list[L.ListReceipt] = []
    closing = [
        (key, "cancel", "撤单申请审核通过，清单已撤销，结关", "cancelled at the enterprise's request; closed")
        for key in effects.cancelled
    ] + [
        (key, "return", "清单商品全部退货，结关", "all goods of the list returned; closed")
        for key in effects.fully_returned
    ]
    for key, rule, zh, en in closing:
        ref = state.stored.refs[key]
        if not L.record_move(
            conn, ref, R.CLOSED, rule=rule, reason_zh=zh, reason_en=en, at=at, batch_id=batch_id
        ):
            # the list rows are locked for the transaction: only a bug can get here
            raise RuntimeError(f"list {key} changed status while its {rule} was decided")
        list_rows.append(
            L.ListReceipt(key, R.CLOSED, L.return_info(None, zh, en), now + timedelta(milliseconds=2))
        )
    # a cancellation gives back everything the list still holds; what that was is known once it is done
    given = L.give_back_all(conn, effects.cancelled, at=at) if effects.cancelled else {}
    applications = [
        replace(a, quota_fen=given[a.list_key].quota_fen, tax_fen=given[a.list_key].tax_fen)
        if a.kind == "cancel" and a.status == R.CONCLUDED and a.list_key in given
        else a
        for a in effects.applications
    ]
    store.record_applications(conn, applications)
    store.record_return_lines(conn, effects.return_lines)
    # returned goods of 1210 lists go back into their bonded ledger (and may release held lists)
    ledger_engine.returns_into_stock(
        conn,
        state.stored,
        [(r.list_key, r.return_guid, r.gnum, r.qty) for r in effects.return_lines],
        params=params,
        at=at,
        batch_id=batch_id,
    )
    quota_repo.apply(conn, effects.movements)
    tax_repo.record_adjustments(conn, effects.adjustments)
    voided = [v for g in given.values() for v in g.voided]
    full = [k for k in effects.fully_returned if k in state.bills and state.bills[k].status != tax_repo.VOID]
    tax_repo.set_bill_status(conn, [state.bills[k].tax_no for k in full], tax_repo.VOID)
    voided += [L.VoidedBill(k, state.bills[k].tax_no, state.bills[k].invt_no) for k in full]
    receipts: list[outbox_repo.Receipt] = []
    for mtype, rows in effects.receipt_rows.items():
        receipts += L.application_receipts(MESSAGES[mtype][2], _receipt_frame(rows))
    receipts += L.list_receipts(state.stored, list_rows)
    receipts += L.tax_status_receipts(state.stored, voided, now)
    return receipts


def _receipt_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "recipient": pl.String(),
            "guid": pl.String(),
            "customsCode": pl.String(),
            "agentCode": pl.String(),
            "ebpCode": pl.String(),
            "ebcCode": pl.String(),
            "copNo": pl.String(),
            "preNo": pl.String(),
            "appTime": pl.Datetime("us"),
            "invtNo": pl.String(),
            "returnStatus": pl.String(),
            "returnTime": pl.Datetime("us"),
            "returnInfo": pl.String(),
        },
    )
    return frame.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo")
    ).drop("appTime")
