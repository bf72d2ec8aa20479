"""Gate passes and the non-stop gate, as operations: file a pass, re-check it, decide vehicles, hold.

The thin layer between the callers (HTTP routes, the console, ``cbec gate simulate``) and the store and rule:
it checks rights, reads what the rule needs, calls :func:`cbec.rules.gate.decide_rows` on the events, and
writes the outcome in one transaction.  Every refusal is a :class:`GateRefusal` with its HTTP status, a code
and the reason in 中文 and English; nothing is written when a request is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cbec.engine.normalize import from_batch
from cbec.messages.columns import decode_batch
from cbec.params.dated import ParameterSet
from cbec.rights import Principal, Role
from cbec.rights.read import district_covers, operator_codes
from cbec.rules import gate as rule
from cbec.rules.decide import REFUSED
from cbec.store import aftercare as aftercare_repo
from cbec.store import documents as documents_repo
from cbec.store import gate as repo
from cbec.store import gate_journal as journal_repo
from cbec.store.db import SQLITE_BEGIN, SQLITE_POLL_LOCK

LIST_FIELDS = (
    "list_key",
    "guid",
    "grossWeight",
    "netWeight",
    "areaCode",
    "customsCode",
    "portCode",
    "emsNo",
    "logisticsNo",
    "logisticsCode",
    "tradeMode",
)
MAX_KG = Decimal(500_000)
STATUS_NAMES = {
    "0": ("已申请", "applied"),
    "1": ("已审批", "approved"),
    "2": ("已过卡", "passed"),
    "3": ("已过一卡", "passed first gate"),
    "4": ("已过二卡", "passed second gate"),
    "5": ("已删除", "deleted"),
    "6": ("已作废", "void"),
}


class GateRefusal(Exception):
    """A request that is refused, with everything wrong with it (``problems``) when there are several."""

    def __init__(
        self,
        status: int,
        code: str,
        zh: str,
        en: str,
        *,
        field: str | None = None,
        problems: Sequence[rule.Reason] = (),
    ) -> None:
        super().__init__(f"{status} {code}: {en}")
        self.status, self.code, self.zh, self.en, self.field = status, code, zh, en, field
        self.problems = list(problems)


# --- who sees what ----------------------------------------------------------------------------------------
def scope_of(principal: Principal, at: datetime) -> repo.Scope:
    """Administrators see every pass, officers those of their district, operators their own."""
    if Role.ADMIN in principal.roles:
        return repo.Scope(everything=True)
    district = principal.district if Role.OFFICER in principal.roles else None
    return repo.Scope(owners=operator_codes(principal, at), district=district)


def sees(scope: repo.Scope, owner: str | None, district: str | None) -> bool:
    if scope.everything:
        return True
    if owner is not None and owner in scope.owners:
        return True
    return scope.district is not None and district is not None and district_covers(scope.district, district)


def require_gate_role(principal: Principal) -> None:
    if not principal.roles & {Role.OPERATOR, Role.OFFICER, Role.ADMIN} and not any(
        g.role is Role.OPERATOR for g in principal.grants
    ):
        raise GateRefusal(
            403,
            "role",
            "仅监管场所经营人（区内企业）、海关关员可使用卡口接口",
            "only supervised-site operators (zone enterprises) and customs officers may use the gate",
        )


def require_officer(principal: Principal) -> None:
    if not principal.roles & {Role.OFFICER, Role.ADMIN}:
        raise GateRefusal(
            403,
            "role",
            "仅海关关员可布控或下达查验指令",
            "only customs officers may hold or order inspection",
        )


# --- weights ----------------------------------------------------------------------------------------------
def grams(value: object, name: str) -> int:
    """Kilograms as sent (number or decimal text, up to 3 decimals) → integer grams, or a refusal."""
    try:
        kg = Decimal(str(value).strip())
    except InvalidOperation:
        kg = Decimal("NaN")
    if not kg.is_finite() or kg < 0 or kg > MAX_KG or kg.as_tuple().exponent < -3:  # type: ignore[operator]
        raise GateRefusal(
            422,
            "bad-weight",
            f"{name} 应为 0 至 {MAX_KG} 之间、至多三位小数的千克数，收到 {value!r}",
            f"{name} must be kilograms between 0 and {MAX_KG} with at most 3 decimals, got {value!r}",
            field=name,
        )
    return int(kg * 1000)


def kg(grams_: int | None) -> str | None:
    if grams_ is None:
        return None
    return (
        format(Decimal(grams_) / 1000, "f").rstrip("0").rstrip(".") if grams_ % 1000 else str(grams_ // 1000)
    )


# --- filing ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ListHandle:
    """How a pass names one list: by the number customs gave it (``invtNo``), by the parcel's order number
    (``orderNo``, with the platform's ``ebpCode`` when the number alone is not enough) or by its waybill
    number (``logisticsNo``, with the carrier's ``logisticsCode`` likewise).  When several are given they
    must all name the same list."""

    invt_no: str | None = None
    logistics_no: str | None = None
    logistics_code: str | None = None
    order_no: str | None = None
    ebp_code: str | None = None

    def label(self) -> str:
        parts = [self.invt_no] if self.invt_no else []
        if self.order_no:
            parts.append(f"{self.ebp_code}|{self.order_no}" if self.ebp_code else self.order_no)
        if self.logistics_no:
            parts.append(f"{self.logistics_code or ''}|{self.logistics_no}")
        return " / ".join(parts)


@dataclass(frozen=True, slots=True)
class PassFiling:
    """A pass as an operator files it (weights already in grams, identifiers as sent)."""

    etps_preent_no: str
    passport_typecd: str
    bind_typecd: str
    io_typecd: str
    vehicle_no: str
    vehicle_wt_g: int
    total_gross_wt_g: int
    total_net_wt_g: int
    total_wt_g: int
    lists: tuple[ListHandle, ...]
    areain_etpsno: str | None = None
    master_cuscd: str | None = None
    areain_oriact_no: str | None = None
    rlt_tb_typecd: str | None = None
    rlt_no: str | None = None
    dcl_typecd: str = "1"
    vehicle_ic_no: str | None = None
    vehicle_frame_no: str | None = None
    vehicle_frame_wt_g: int = 0
    container_no: str | None = None
    container_type: str | None = None
    container_wt_g: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


def _owner(principal: Principal, filing: PassFiling, at: datetime) -> str:
    mine = operator_codes(principal, at)
    if Role.ADMIN in principal.roles and filing.areain_etpsno:
        return filing.areain_etpsno
    if filing.areain_etpsno:
        if filing.areain_etpsno not in mine:
            raise GateRefusal(
                403,
                "not-your-zone-enterprise",
                f"areainEtpsno {filing.areain_etpsno} 不是本企业或授权给本企业的区内企业代码",
                f"areainEtpsno {filing.areain_etpsno} is neither your code nor one granted to you",
                field="areainEtpsno",
            )
        return filing.areain_etpsno
    if len(mine) == 1:
        return next(iter(mine))
    raise GateRefusal(
        422 if mine else 403,
        "areainEtpsno" if mine else "role",
        "请用 areainEtpsno 指明区内企业" if mine else "仅监管场所经营人（区内企业）可申报核放单",
        "name the zone enterprise in areainEtpsno" if mine else "only zone enterprises may file gate passes",
        field="areainEtpsno",
    )


def list_heads(conn: Connection, list_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored lists' head fields a pass needs (weights, zone, district), decoded from their messages."""
    refs = aftercare_repo.list_refs(conn, list_keys)
    if not refs:
        return {}
    raws = aftercare_repo.raw_messages(conn, {r.inbox_id for r in refs.values()})
    ids = sorted(raws)
    docs = from_batch(decode_batch([raws[i] for i in ids]), received_at=datetime(1970, 1, 1), rejected=set())
    wanted = {r.guid: key for key, r in refs.items()}
    frame = docs.lists.filter(pl.col("guid").is_in(list(wanted)))
    out: dict[str, dict[str, Any]] = {}
    for row in frame.select([c for c in LIST_FIELDS if c in frame.columns]).iter_rows(named=True):
        key = wanted[row["guid"]]
        if key not in out:
            ref = refs[key]
            out[key] = {**row, "list_key": key, "invt_no": ref.invt_no, "status": ref.status}
    return out


def _resolve(conn: Connection, handles: Sequence[ListHandle]) -> tuple[dict[int, str], list[rule.Reason]]:
    """Position of each handle → list key; what could not be found, or not told apart, and why.

    Every number is an exact look-up on an index (``invtNo`` in the decision log, ``orderNo`` and
    ``logisticsNo`` on the list's own document row), a whole pass in a few queries."""
    by_invt = aftercare_repo.list_keys_by_invt_nos(conn, [h.invt_no for h in handles if h.invt_no])
    numbered = documents_repo.lists_by_numbers(
        conn,
        logistics_nos=[h.logistics_no for h in handles if h.logistics_no],
        order_nos=[h.order_no for h in handles if h.order_no],
    )
    by_waybill: dict[str, list[documents_repo.NumberedList]] = {}
    by_order: dict[str, list[documents_repo.NumberedList]] = {}
    for row in numbered:
        if row.logistics_no:
            by_waybill.setdefault(row.logistics_no, []).append(row)
        if row.order_no:
            by_order.setdefault(row.order_no, []).append(row)
    found: dict[int, str] = {}
    problems: list[rule.Reason] = []
    for i, h in enumerate(handles):
        named: list[str | None] = []  # the list each given number names ("" none, None several)
        if h.invt_no:
            named.append(by_invt.get(h.invt_no, ""))
        if h.order_no:
            named.append(_list_by_order(by_order.get(h.order_no, []), h.order_no, h.ebp_code, i, problems))
        if h.logistics_no:
            named.append(
                _list_by_waybill(
                    by_waybill.get(h.logistics_no, []), h.logistics_no, h.logistics_code, i, problems
                )
            )
        if None in named:
            continue  # several lists have that number: already explained
        keys = {k or "" for k in named}
        if "" in keys:
            problems.append(
                rule.Reason(
                    "list-unknown",
                    f"lists[{i}] {h.label()}：未找到该清单",
                    f"lists[{i}] {h.label()}: no such list",
                )
            )
        elif len(keys) > 1:
            problems.append(
                rule.Reason(
                    "list-mismatch",
                    f"lists[{i}] {h.label()}：所填编号指向不同的清单",
                    f"lists[{i}] {h.label()}: the numbers given name different lists",
                )
            )
        elif keys:
            found[i] = keys.pop()
    return found, problems


def _one(matches: Sequence[documents_repo.NumberedList]) -> documents_repo.NumberedList | None:
    """The list among these, if only one can be meant: a list customs refused is never bound, so it gives
    way to another list with the same number (a parcel declared again after its first list was refused)."""
    if len(matches) == 1:
        return matches[0]
    standing = [m for m in matches if m.status != REFUSED]
    return standing[0] if len(standing) == 1 else None


def _list_by_order(
    matches: Sequence[documents_repo.NumberedList],
    order_no: str,
    ebp_code: str | None,
    i: int,
    problems: list[rule.Reason],
) -> str | None:
    """The key of the list of this order ("" when there is none); None, with the reason added to
    ``problems``, when several platforms' lists carry the number and ``ebpCode`` does not tell which."""
    if ebp_code:
        matches = [m for m in matches if m.business_key == f"{ebp_code}|{order_no}"]
    one = _one(matches)
    if one is not None or not matches:
        return one.business_key if one is not None else ""
    platforms = sorted({m.business_key[: -len(order_no) - 1] for m in matches})
    problems.append(
        rule.Reason(
            "list-ambiguous",
            f"lists[{i}] orderNo {order_no}：该订单编号对应 {len(matches)} 份清单（电商平台 "
            f"{'、'.join(platforms)}），请同时填写 ebpCode，或改用 invtNo",
            f"lists[{i}] orderNo {order_no} names {len(matches)} lists (e-commerce platforms "
            f"{', '.join(platforms)}): give ebpCode too, or name the list by invtNo",
        )
    )
    return None


def _list_by_waybill(
    matches: Sequence[documents_repo.NumberedList],
    logistics_no: str,
    logistics_code: str | None,
    i: int,
    problems: list[rule.Reason],
) -> str | None:
    """The key of the list of the parcel with this waybill number, as its own head names it ("" when there
    is none); None, with the reason added to ``problems``, when several lists carry the number and
    ``logisticsCode`` does not tell which (carriers number their waybills independently)."""
    if logistics_code:
        matches = [m for m in matches if m.logistics_code == logistics_code]
    one = _one(matches)
    if one is not None or not matches:
        return one.business_key if one is not None else ""
    carriers = sorted({m.logistics_code or "?" for m in matches})
    hint_zh, hint_en = (
        ("请同时填写 logisticsCode，或改用 invtNo", "give logisticsCode too, or name the list by invtNo")
        if len(carriers) > 1
        else ("请改用 invtNo 或 orderNo", "name the list by invtNo or orderNo")
    )
    problems.append(
        rule.Reason(
            "list-ambiguous",
            f"lists[{i}] logisticsNo {logistics_no}：该运单编号对应 {len(matches)} 份清单（物流企业 "
            f"{'、'.join(carriers)}），{hint_zh}",
            f"lists[{i}] logisticsNo {logistics_no} names {len(matches)} lists (carriers "
            f"{', '.join(carriers)}): {hint_en}",
        )
    )
    return None


def file_pass(
    engine: Engine, principal: Principal, filing: PassFiling, params: ParameterSet, now: datetime
) -> tuple[repo.PassRow, bool]:
    """Validate and store a pass; (the pass, whether it is new).  Approved at once when every bound list is
    released, else stored as applied with the reasons.  The same ``etpsPreentNo`` again with the same
    content answers the stored pass (idempotent); with other content it is refused (409)."""
    if (
        Role.OPERATOR not in principal.roles
        and Role.ADMIN not in principal.roles
        and not operator_codes(principal, now)
    ):
        raise GateRefusal(
            403,
            "role",
            "仅监管场所经营人（区内企业）可申报核放单",
            "only zone enterprises may file gate passes",
        )
    owner = _owner(principal, filing, now)
    _check_codes(filing)
    vehicle = rule.normalize_plate(filing.vehicle_no)
    if vehicle is None:
        raise GateRefusal(
            422, "vehicleNo", "车牌号不得为空", "vehicleNo must not be empty", field="vehicleNo"
        )
    if filing.passport_typecd != "6" and not filing.lists:
        raise GateRefusal(
            422,
            "no-lists",
            "核放单须绑定至少一份清单（空车除外）",
            "a pass must bind at least one list (unless empty)",
            field="lists",
        )
    with engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
        stored = repo.pass_by_preent(conn, owner, filing.etps_preent_no)
        positions, problems = _resolve(conn, filing.lists)
        keys = list(positions.values())
        heads = list_heads(conn, keys)
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        for k in duplicates:
            problems.append(rule.Reason("list-twice", f"清单 {k} 重复绑定", f"list {k} is bound twice"))
        foreign = sorted(
            k
            for k in keys
            if k in heads and heads[k].get("areaCode") not in {owner} and Role.ADMIN not in principal.roles
        )
        if foreign and not problems:
            raise GateRefusal(
                403,
                "not-your-list",
                f"以下清单的区内企业（areaCode）不是 {owner}：{', '.join(_label(heads[k]) for k in foreign)}",
                f"these lists' zone enterprise (areaCode) is not {owner}: "
                f"{', '.join(_label(heads[k]) for k in foreign)}",
                field="lists",
            )
        if stored is not None:
            if _same(stored, filing, vehicle, keys):
                return stored, False
            raise GateRefusal(
                409,
                "preent-conflict",
                f"企业内部编号 {filing.etps_preent_no} 已用于核放单 {stored.passport_no}，内容不同",
                f"etpsPreentNo {filing.etps_preent_no} was used for pass {stored.passport_no} "
                "with other content",
                field="etpsPreentNo",
            )
        bound = repo.live_bindings(conn, keys)
        for k in sorted(bound):
            problems.append(
                rule.Reason(
                    "list-on-another-pass",
                    f"清单 {_label(heads.get(k, {'list_key': k}))} 已绑定在核放单 {bound[k]}",
                    f"list {_label(heads.get(k, {'list_key': k}))} is already on pass {bound[k]}",
                )
            )
        districts = sorted({str(h.get("customsCode") or "") for h in heads.values()} - {""})
        master = filing.master_cuscd or (districts[0] if len(districts) == 1 else None)
        if master is None or not (len(master) == 4 and master.isdigit()):
            problems.append(
                rule.Reason(
                    "masterCuscd",
                    "无法确定主管关区（masterCuscd），请填写 4 位关区代码",
                    "cannot tell the customs district (masterCuscd): give the 4-digit code",
                )
            )
        lists_gross = sum(_g(heads[k].get("grossWeight")) for k in keys if k in heads)
        lists_net = sum(_g(heads[k].get("netWeight")) for k in keys if k in heads)
        problems += rule.pass_totals_problems(
            rule.PassTotals(
                filing.vehicle_wt_g,
                filing.vehicle_frame_wt_g,
                filing.container_wt_g,
                filing.total_gross_wt_g,
                filing.total_net_wt_g,
                filing.total_wt_g,
                lists_gross,
                lists_net,
            ),
            params,
            now.date(),
        )
        if problems:
            status = 409 if all(p.code == "list-on-another-pass" for p in problems) else 422
            raise GateRefusal(
                status,
                problems[0].code,
                "核放单未通过校验：" + "；".join(p.zh for p in problems),
                "the gate pass fails its checks: " + "; ".join(p.en for p in problems),
                field="lists" if problems[0].code.startswith("list") else None,
                problems=problems,
            )
        assert master is not None
        pending = _pending(heads, keys)
        emss = sorted({str(h.get("emsNo") or "") for h in heads.values()} - {""})
        new = repo.NewPass(
            owner=owner,
            etps_preent_no=filing.etps_preent_no,
            master_cuscd=master,
            areain_oriact_no=filing.areain_oriact_no or (emss[0] if len(emss) == 1 else None),
            passport_typecd=filing.passport_typecd,
            bind_typecd=filing.bind_typecd,
            io_typecd=filing.io_typecd,
            rlt_tb_typecd=filing.rlt_tb_typecd,
            rlt_no=filing.rlt_no,
            vehicle_no=vehicle,
            vehicle_ic_no=rule.normalize_plate(filing.vehicle_ic_no),
            vehicle_frame_no=filing.vehicle_frame_no,
            vehicle_wt_g=filing.vehicle_wt_g,
            vehicle_frame_wt_g=filing.vehicle_frame_wt_g,
            container_no=rule.normalize_container(filing.container_no),
            container_type=filing.container_type,
            container_wt_g=filing.container_wt_g,
            total_gross_wt_g=filing.total_gross_wt_g,
            total_net_wt_g=filing.total_net_wt_g,
            total_wt_g=filing.total_wt_g,
            stucd="0" if pending else "1",
            pending=json.dumps([p.to_json() for p in pending], ensure_ascii=False) if pending else None,
            filed_by=principal.credential or principal.name,
            dcl_time=now,
        )
        bound_rows = [
            repo.BoundList(
                k,
                heads[k].get("invt_no") if k in heads else None,
                str(heads[k].get("logisticsNo")) if k in heads and heads[k].get("logisticsNo") else None,
                _g(heads[k].get("grossWeight")) if k in heads else 0,
                _g(heads[k].get("netWeight")) if k in heads else 0,
            )
            for k in keys
        ]
        try:
            with conn.begin_nested():
                pass_id = repo.insert_pass(conn, new, bound_rows)
        except IntegrityError:
            raise GateRefusal(
                409,
                "list-on-another-pass",
                "所绑定清单刚被另一份核放单绑定，请重新查询",
                "a bound list was just put on another pass; look again",
                field="lists",
            ) from None
        if not pending:
            repo.move_status(conn, pass_id, ["1"], "1", now, approved_at=now)
        row = repo.pass_by_id(conn, pass_id)
        assert row is not None
        return row, True


def _check_codes(filing: PassFiling) -> None:
    checks = (
        ("passportTypecd", filing.passport_typecd, ("1", "2", "3", "4", "5", "6")),
        ("bindTypecd", filing.bind_typecd, ("1", "2", "3")),
        ("ioTypecd", filing.io_typecd, ("I", "E")),
        ("dclTypecd", filing.dcl_typecd, ("1",)),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            raise GateRefusal(
                422,
                name,
                f"{name} 应为 {'/'.join(allowed)}，收到 {value!r}（作废请用作废接口）",
                f"{name} must be one of {'/'.join(allowed)}, got {value!r} (void a pass with its own call)",
                field=name,
            )
    if filing.rlt_tb_typecd is not None and filing.rlt_tb_typecd not in ("1", "2", "3"):
        raise GateRefusal(
            422, "rltTbTypecd", "rltTbTypecd 应为 1/2/3", "rltTbTypecd must be 1, 2 or 3", field="rltTbTypecd"
        )


def _same(stored: repo.PassRow, filing: PassFiling, vehicle: str, keys: Sequence[str]) -> bool:
    return (
        stored.vehicle_no == vehicle
        and stored.total_wt_g == filing.total_wt_g
        and stored.total_gross_wt_g == filing.total_gross_wt_g
        and stored.container_no == rule.normalize_container(filing.container_no)
        and [b.list_key for b in stored.lists] == list(keys)
    )


def _g(value: object) -> int:
    if value is None or value == "":
        return 0
    return int(Decimal(str(value)) * 1000)


def _label(head: Mapping[str, Any]) -> str:
    return str(head.get("invt_no") or head.get("list_key"))


def _pending(heads: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> list[rule.Reason]:
    """Why a pass cannot be approved yet: its lists not released (800/899), named."""
    waiting = [k for k in keys if int(heads.get(k, {}).get("status") or 0) not in rule.RELEASED_STATUSES]
    if not waiting:
        return []
    named = ", ".join(
        f"{_label(heads.get(k, {'list_key': k}))} ({heads.get(k, {}).get('status')})" for k in waiting
    )
    return [
        rule.Reason(
            "list-unreleased",
            f"所绑定清单尚未放行：{named}",
            f"bound lists not released yet: {named}",
        )
    ]


def readable_pass(
    engine: Engine, principal: Principal, number: str, at: datetime, *, journal: Engine | None = None
) -> repo.PassRow:
    """The pass, if the principal may see it (404 otherwise, whether or not it exists), with the status a
    LIFT in the gate journal gave it."""
    with engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        row = repo.pass_by_no(conn, number)
    if row is None or not sees(scope_of(principal, at), row.owner, row.master_cuscd):
        raise GateRefusal(
            404, "not-found", "没有您可查看的该核放单", "no gate pass of that number that you may see"
        )
    if journal is not None:
        with journal.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as jconn:
            moved = journal_repo.statuses(jconn, [row.id])
        if row.id in moved:
            row = replace(row, stucd=moved[row.id])
    return row


def recheck(engine: Engine, principal: Principal, number: str, now: datetime) -> repo.PassRow:
    """Look again at an applied pass: approve it when every bound list has been released since."""
    row = readable_pass(engine, principal, number, now)
    if row.stucd != "0":
        return row
    with engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
        current = repo.pass_by_id(conn, row.id)
        assert current is not None
        heads = {
            b.list_key: {"list_key": b.list_key, "invt_no": b.invt_no, "status": b.status}
            for b in current.lists
        }
        pending = _pending(heads, [b.list_key for b in current.lists])
        if pending:
            repo.set_pending(
                conn, row.id, json.dumps([p.to_json() for p in pending], ensure_ascii=False), now
            )
        else:
            repo.move_status(conn, row.id, ["0"], "1", now, approved_at=now)
        out = repo.pass_by_id(conn, row.id)
    assert out is not None
    return out


def cancel(
    engine: Engine,
    principal: Principal,
    number: str,
    to_status: str,
    now: datetime,
    *,
    journal: Engine | None = None,
) -> repo.PassRow:
    """Delete (5) or void (6) a pass not yet used at the gate; its lists may then go on another pass.

    With a gate journal its lock is held throughout: a lane cannot lift the pass while it is being deleted,
    and a lift already journalled (not yet in the main database) refuses the delete."""
    row = readable_pass(engine, principal, number, now)
    if row.owner not in operator_codes(principal, now) and Role.ADMIN not in principal.roles:
        raise GateRefusal(
            403,
            "not-owner",
            "只有申报该核放单的企业可删除或作废",
            "only the enterprise that filed the pass may delete or void it",
        )
    with ExitStack() as stack:
        lifted = None
        if journal is not None:
            jconn = stack.enter_context(journal_repo.locked(journal))
            lifted = journal_repo.statuses(jconn, [row.id]).get(row.id)
        conn = stack.enter_context(engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}))
        stack.enter_context(conn.begin())
        if lifted is not None or not repo.move_status(conn, row.id, ["0", "1"], to_status, now):
            zh, en = STATUS_NAMES.get(lifted or row.stucd, ("?", "?"))
            raise GateRefusal(
                409,
                "pass-status",
                f"核放单状态为{zh}，不能删除或作废",
                f"the pass is {en}: it can no longer be deleted or voided",
            )
        out = repo.pass_by_id(conn, row.id)
    assert out is not None
    return out


def pass_json(row: repo.PassRow) -> dict[str, Any]:
    zh, en = STATUS_NAMES.get(row.stucd, ("?", "?"))
    return {
        "passportNo": row.passport_no,
        "etpsPreentNo": row.etps_preent_no,
        "areainEtpsno": row.owner,
        "masterCuscd": row.master_cuscd,
        "areainOriactNo": row.areain_oriact_no,
        "passportTypecd": row.passport_typecd,
        "bindTypecd": row.bind_typecd,
        "ioTypecd": row.io_typecd,
        "rltTbTypecd": row.rlt_tb_typecd,
        "rltNo": row.rlt_no,
        "vehicleNo": row.vehicle_no,
        "vehicleIcNo": row.vehicle_ic_no,
        "vehicleFrameNo": row.vehicle_frame_no,
        "vehicleWt": kg(row.vehicle_wt_g),
        "vehicleFrameWt": kg(row.vehicle_frame_wt_g),
        "containerNo": row.container_no,
        "containerType": row.container_type,
        "containerWt": kg(row.container_wt_g),
        "totalGrossWt": kg(row.total_gross_wt_g),
        "totalNetWt": kg(row.total_net_wt_g),
        "totalWt": kg(row.total_wt_g),
        "stucd": row.stucd,
        "status_zh": zh,
        "status_en": en,
        "pending": json.loads(row.pending) if row.pending else [],
        "dclTime": row.dcl_time.isoformat(),
        "approvedAt": row.approved_at.isoformat() if row.approved_at else None,
        "passTime": row.pass_time.isoformat() if row.pass_time else None,
        "secdPassTime": row.secd_pass_time.isoformat() if row.secd_pass_time else None,
        "lists": [
            {
                "invtNo": b.invt_no,
                "listKey": b.list_key,
                "logisticsNo": b.logistics_no,
                "grossWt": kg(b.gross_wt_g),
                "netWt": kg(b.net_wt_g),
                "status": b.status,
            }
            for b in row.lists
        ],
    }


# --- the gate -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GateEvent:
    event_id: str
    lane: str
    at: datetime
    vehicle_no: str | None = None
    vehicle_ic_no: str | None = None
    container_no: str | None = None
    weight_g: int | None = None
    gate: str = "S"

    def normalized(self) -> GateEvent:
        return GateEvent(
            self.event_id,
            self.lane,
            self.at,
            rule.normalize_plate(self.vehicle_no),
            rule.normalize_plate(self.vehicle_ic_no),
            rule.normalize_container(self.container_no),
            self.weight_g,
            self.gate,
        )


def _pick(event: GateEvent, found: Sequence[repo.GatePass]) -> repo.GatePass | None:
    """The pass a vehicle travels under: an electronic plate/IC match first (it is read more reliably
    than the camera's plate), then the plate; live passes before used ones, the newest first."""
    order = {"1": 0, "3": 1, "0": 2, "2": 3, "4": 3}
    best: tuple[int, int, int] | None = None
    chosen: repo.GatePass | None = None
    for p in found:
        by_ic = event.vehicle_ic_no is not None and p.vehicle_ic_no == event.vehicle_ic_no
        by_plate = event.vehicle_no is not None and p.vehicle_no == event.vehicle_no
        if not (by_ic or by_plate):
            continue
        rank = (order.get(p.stucd, 9), 0 if by_ic else 1, -p.id)
        if best is None or rank < best:
            best, chosen = rank, p
    return chosen


def _context(
    conn: Connection,
    events: Sequence[GateEvent],
    scope: repo.Scope,
    jconn: Connection | None = None,
) -> tuple[list[repo.GatePass | None], list[dict[str, Any]]]:
    """Each event with the pass found for it and what is known about that pass now (PASS_SCHEMA), as rows.

    Three reads whatever the number of events (candidate passes, the chosen passes' lists, holds), each a
    statement built once per shape: this is the gate's hot path.  With a journal (``jconn``), a pass's
    status is the journal's where it moved one not yet in the main database."""
    found = repo.gate_candidates(
        conn,
        [e.vehicle_no for e in events if e.vehicle_no],
        [e.vehicle_ic_no for e in events if e.vehicle_ic_no],
        scope,
    )
    if jconn is not None and found:
        moved = journal_repo.statuses(jconn, [p.id for p in found])
        found = [replace(p, stucd=moved[p.id]) if p.id in moved else p for p in found]
    picked = [_pick(e, found) for e in events]
    lists = repo.gate_lists(conn, [p.id for p in picked if p is not None])
    with_lists = {p.id: replace(p, lists=lists.get(p.id, ())) for p in picked if p is not None}
    chosen = [with_lists[p.id] if p is not None else None for p in picked]
    passes = {p.id: p for p in chosen if p is not None}
    held = repo.gate_holds(
        conn,
        {
            "pass": [p.passport_no for p in passes.values()],
            "vehicle": [v for e in events for v in (e.vehicle_no, e.vehicle_ic_no) if v]
            + [v for p in passes.values() for v in (p.vehicle_no, p.vehicle_ic_no) if v],
            "list": [x for p in passes.values() for b in p.lists for x in (b.list_key, b.invt_no) if x],
        },
    )
    rows: list[dict[str, Any]] = []
    for e, p in zip(events, chosen, strict=True):
        row: dict[str, Any] = {
            "event_id": e.event_id,
            "at": e.at,
            "gate": e.gate,
            "vehicle_no": e.vehicle_no,
            "vehicle_ic_no": e.vehicle_ic_no,
            "container_no": e.container_no,
            "weight_g": e.weight_g,
        }
        row.update(dict.fromkeys(rule.PASS_SCHEMA))
        if p is not None:
            unreleased = [
                b
                for b in p.lists
                if b.status not in rule.RELEASED_STATUSES and not rule.inspection_status(b.status or 0)
            ]
            inspected = [b for b in p.lists if rule.inspection_status(b.status or 0)]
            ids = {b.list_key for b in p.lists} | {b.invt_no for b in p.lists if b.invt_no}
            vehicle_ids = {v for v in (e.vehicle_no, e.vehicle_ic_no, p.vehicle_no, p.vehicle_ic_no) if v}

            def note(hs: Iterable[repo.ActiveHold]) -> str | None:
                texts = [f"{h.reason_zh} / {h.reason_en} (#{h.id} {h.officer})" for h in hs]
                return "; ".join(texts) or None

            def in_district(h: repo.ActiveHold, pass_row: repo.GatePass = p) -> bool:
                return h.district is None or district_covers(h.district, pass_row.master_cuscd)

            row.update(
                passport_no=p.passport_no,
                pass_status=p.stucd,
                pass_vehicle_no=p.vehicle_no,
                pass_vehicle_ic_no=p.vehicle_ic_no,
                pass_container_no=p.container_no,
                pass_total_wt_g=p.total_wt_g,
                lists_unreleased=", ".join(f"{_name(b)} ({b.status})" for b in unreleased) or None,
                lists_inspection=", ".join(f"{_name(b)} ({b.status})" for b in inspected) or None,
                held_pass=note(
                    h
                    for h in held
                    if h.kind == "hold" and h.target_kind == "pass" and h.target == p.passport_no
                ),
                held_vehicle=note(
                    h
                    for h in held
                    if h.target_kind == "vehicle" and h.target in vehicle_ids and in_district(h)
                ),
                held_lists=note(h for h in held if h.target_kind == "list" and h.target in ids),
                inspection_ordered=note(
                    h
                    for h in held
                    if h.kind == "inspection" and h.target_kind == "pass" and h.target == p.passport_no
                ),
            )
        rows.append(row)
    return chosen, rows


def _name(b: repo.BoundListRow) -> str:
    return b.invt_no or b.list_key


def decide_events(
    engine: Engine,
    events: Sequence[GateEvent],
    *,
    reporter: str,
    scope: repo.Scope,
    params: ParameterSet,
    now: datetime,
    journal: Engine | None = None,
) -> list[dict[str, Any]]:
    """Decide vehicles at the gate (one, or a whole day in frame order) and store every event and decision.

    Events already stored (same ``event_id``) are answered as stored; the same id with other content is a
    409.  A LIFT moves the pass on (approved → passed) by compare-and-set: if another lane used the pass
    first, the vehicle is stopped as a second use.  With a ``journal`` (:mod:`cbec.store.gate_journal`) the
    decisions are committed there, under its lock, and the main database is only read.
    """
    events = [e.normalized() for e in events]
    ids = [e.event_id for e in events]
    if len(set(ids)) != len(ids):
        raise GateRefusal(
            422,
            "event-twice",
            "同一批中 eventId 重复",
            "an eventId appears twice in one batch",
            field="eventId",
        )
    if journal is None:
        with engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
            return _decide(conn, None, events, reporter=reporter, scope=scope, params=params, now=now)
    # the main database is read only under the journal's lock: the mover cannot delete a row meanwhile
    with (
        journal_repo.locked(journal) as jconn,
        engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn,
        conn.begin(),
    ):
        return _decide(conn, jconn, events, reporter=reporter, scope=scope, params=params, now=now)


def _decide(
    conn: Connection,
    jconn: Connection | None,
    events: Sequence[GateEvent],
    *,
    reporter: str,
    scope: repo.Scope,
    params: ParameterSet,
    now: datetime,
) -> list[dict[str, Any]]:
    """:func:`decide_events` inside its transaction(s): writes go to ``jconn`` when there is a journal."""
    ids = [e.event_id for e in events]
    stored = journal_repo.stored_events(jconn, ids) if jconn is not None else {}
    known = repo.known_event_ids(conn, [i for i in ids if i not in stored])  # usually none
    if known:
        stored.update(repo.events_by_ids(conn, known))
    for e in events:
        if e.event_id in stored and not _same_event(stored[e.event_id], e):
            raise GateRefusal(
                409,
                "event-conflict",
                f"eventId {e.event_id} 已用于另一内容的过卡事件",
                f"eventId {e.event_id} was already used for a different gate event",
                field="eventId",
            )
    # in the order the vehicles were at the gate: of two uses of one pass, the earlier is the first
    fresh = sorted((e for e in events if e.event_id not in stored), key=lambda e: e.at)
    out: dict[str, dict[str, Any]] = {k: event_json(v, repeat=True) for k, v in stored.items()}
    if not fresh:
        return [out[i] for i in ids]
    chosen, context = _context(conn, fresh, scope, jconn)
    decided = rule.decide_rows(context, params)
    status = {p.id: p.stucd for p in chosen if p is not None}  # as each LIFT leaves it (journal mode)
    moves: dict[str, journal_repo.Move] = {}
    rows = []
    for e, p, d in zip(fresh, chosen, decided, strict=True):
        reasons = [r.to_json() for r in rule.reasons_of(d)]
        decision, after = d["decision"], d["new_status"]
        if decision == rule.LIFT and p is not None:
            times = {"pass_time": e.at} if after in ("2", "3") else {"secd_pass_time": e.at}
            source = ("1", "0") if e.gate in ("S", "1") else ("3",)
            if p.stucd == "0":  # approved on arrival: every list released since filing
                times["approved_at"] = now
            if jconn is not None:
                moved = status[p.id] in source
                if moved:
                    status[p.id] = after
                    moves[e.event_id] = journal_repo.Move(source, times)
            else:
                moved = repo.gate_move(conn, p.id, list(source), after, now, **times)
            if not moved:
                decision, after = rule.STOP, None
                zh, en = rule.REASONS["pass-used"]
                reasons = [{"code": "pass-used", "reason_zh": zh, "reason_en": en}]
        rows.append(
            {
                "event_id": e.event_id,
                "reporter": reporter,
                "lane": e.lane,
                "gate": e.gate,
                "vehicle_no": e.vehicle_no,
                "vehicle_ic_no": e.vehicle_ic_no,
                "container_no": e.container_no,
                "weight_g": e.weight_g,
                "at": e.at,
                "received_at": now,
                "pass_id": p.id if p else None,
                "passport_no": p.passport_no if p else None,
                "master_cuscd": p.master_cuscd if p else None,
                "owner": p.owner if p else None,
                "decision": decision,
                "reasons": repo.reasons_json(reasons),
                "pass_status_before": p.stucd if p else None,
                "pass_status_after": after,
                "tolerance_g": d["tolerance_g"],
            }
        )
    if jconn is not None:
        journal_repo.append(jconn, rows, moves)
    else:
        repo.record_gate_events(conn, rows)
    out.update({r["event_id"]: event_json(r, repeat=False) for r in rows})
    return [out[i] for i in ids]


def _same_event(stored: Mapping[str, Any], e: GateEvent) -> bool:
    return bool(
        stored["vehicle_no"] == e.vehicle_no
        and stored["vehicle_ic_no"] == e.vehicle_ic_no
        and stored["container_no"] == e.container_no
        and stored["weight_g"] == e.weight_g
        and stored["lane"] == e.lane
        and stored["gate"] == e.gate
    )


def event_json(row: Mapping[str, Any], *, repeat: bool) -> dict[str, Any]:
    at = row["at"]
    return {
        "eventId": row["event_id"],
        "decision": row["decision"],
        "reasons": json.loads(row["reasons"]) if isinstance(row["reasons"], str) else row["reasons"],
        "passportNo": row["passport_no"],
        "passStatus": row["pass_status_after"] or row["pass_status_before"],
        "lane": row["lane"],
        "gate": row["gate"],
        "vehicleNo": row["vehicle_no"],
        "vehicleIcNo": row["vehicle_ic_no"],
        "containerNo": row["container_no"],
        "weight": kg(row["weight_g"]),
        "tolerance": kg(row["tolerance_g"]),
        "at": at.isoformat() if hasattr(at, "isoformat") else str(at),
        "repeat": repeat,
    }


def recent(
    engine: Engine,
    principal: Principal,
    at: datetime,
    *,
    limit: int = 50,
    decision: str | None = None,
    journal: Engine | None = None,
) -> list[dict[str, Any]]:
    """The latest decisions the principal sees, newest first: the gate journal's (decided, not moved into
    the main database yet) before the main database's."""
    scope = scope_of(principal, at)
    reporters = [principal.name, *(principal.codes)]
    rows: list[dict[str, Any]] = []
    if journal is not None:
        rows = [
            r
            for r in journal_repo.latest(journal, journal_repo.LATEST_WINDOW)
            if (decision is None or r["decision"] == decision)
            and (r["reporter"] in reporters or sees(scope, r["owner"], r["master_cuscd"]))
        ][:limit]
    with engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        seen = {r["event_id"] for r in rows}
        more = repo.recent_events(conn, scope, reporters=reporters, limit=limit, decision=decision)
        rows += [r for r in more if r["event_id"] not in seen]  # moved between the two reads
    return [event_json(r, repeat=False) for r in rows[:limit]]


# --- holds --------------------------------------------------------------------------------------------------
def place_hold(
    engine: Engine,
    principal: Principal,
    *,
    kind: str,
    target_kind: str,
    target: str,
    reason_zh: str,
    reason_en: str,
    now: datetime,
) -> repo.HoldRow:
    """An officer holds a pass, a vehicle or a list (or orders a pass inspected) within their district."""
    require_officer(principal)
    district = principal.district if Role.ADMIN not in principal.roles else None
    value = target.strip()
    if target_kind == "vehicle":
        value = rule.normalize_plate(value) or ""
    if not value:
        raise GateRefusal(422, "target", "布控对象不得为空", "the target must not be empty", field="target")
    if kind == "inspection" and target_kind != "pass":
        raise GateRefusal(
            422,
            "target",
            "查验指令只能针对核放单",
            "an inspection order is for a gate pass",
            field="targetKind",
        )
    with engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
        if target_kind == "pass":
            p = repo.pass_by_no(conn, value)
            if p is None or not sees(
                repo.Scope(everything=district is None, district=district), None, p.master_cuscd
            ):
                raise GateRefusal(
                    404,
                    "not-found",
                    "本关区没有该核放单",
                    "no gate pass of that number in your district",
                    field="target",
                )
        elif target_kind == "list":
            key = aftercare_repo.list_keys_by_invt_nos(conn, [value]).get(value)
            heads = list_heads(conn, [key or value])
            head = next(iter(heads.values()), None)
            if head is None:
                raise GateRefusal(404, "not-found", "没有该清单", "no such list", field="target")
            codes = {str(head.get("customsCode") or ""), str(head.get("portCode") or "")} - {""}
            if district is not None and not any(district_covers(district, c) for c in codes):
                raise GateRefusal(
                    403,
                    "other-district",
                    "该清单不在本关区",
                    "the list is outside your district",
                    field="target",
                )
            value = str(head["list_key"])
        hold_id = repo.place_hold(
            conn,
            kind=kind,
            target_kind=target_kind,
            target=value,
            district=district,
            officer=principal.name,
            reason_zh=reason_zh,
            reason_en=reason_en,
            at=now,
        )
        row = repo.hold_by_id(conn, hold_id)
    assert row is not None
    return row


def lift_hold(engine: Engine, principal: Principal, hold_id: int, now: datetime) -> repo.HoldRow:
    require_officer(principal)
    district = principal.district if Role.ADMIN not in principal.roles else None
    with engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
        row = repo.hold_by_id(conn, hold_id)
        if row is None or (district is not None and row.district != district):
            raise GateRefusal(404, "not-found", "本关区没有该布控", "no such hold in your district")
        if not repo.lift_hold(conn, hold_id, officer=principal.name, at=now):
            raise GateRefusal(409, "lifted", "该布控已撤销", "the hold was already lifted")
        out = repo.hold_by_id(conn, hold_id)
    assert out is not None
    return out


def hold_json(h: repo.HoldRow) -> dict[str, Any]:
    return {
        "id": h.id,
        "kind": h.kind,
        "targetKind": h.target_kind,
        "target": h.target,
        "district": h.district,
        "officer": h.officer,
        "reason_zh": h.reason_zh,
        "reason_en": h.reason_en,
        "placedAt": h.placed_at.isoformat(),
        "liftedAt": h.lifted_at.isoformat() if h.lifted_at else None,
        "liftedBy": h.lifted_by,
    }
