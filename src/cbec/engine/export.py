"""Export clearance shell: the CEB303/403/505/603/507/607/605/509 messages of a batch, in its transaction.

:func:`process` is called by the clearing shell (:meth:`cbec.engine.clear.Clearer._process`) with the batch
positions that are not import messages, like :func:`cbec.engine.aftercare.process`.  It stores the documents
(``document``, idempotent by guid: a repeat has no effect and no second receipt; a second document with a
business key in use is a duplicate and refused), reads what the rules need from the store, runs the pure
rules of :mod:`cbec.rules.export`, writes the outcome (``export_list``, ``export_movement``,
``export_bill_line``, ``export_refund_line``, ``decision``) and returns the receipts (CEB304/404/506/508/510/
604/606/608) for the caller to queue with the rest of the batch — all in the caller's transaction.

Order within a batch: messages are taken in *phases* — documents (303/403/505/603), then arrivals (507), then
master bills (607), then cancellations (605), then departures (509) — and a message of an earlier phase after
one of a later phase starts a new segment, so a cancellation sent after a departure is judged after it (and
refused) while one sent before is judged before it.  Everything a decision depends on is in the store, so the
same messages give the same decisions whatever the batch boundaries (replay).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, or_, select, update

from cbec.engine import lists as L
from cbec.messages.columns import ColumnBatch, decode_batch
from cbec.messages.encode_columns import encode_receipts
from cbec.params.dated import ParameterSet
from cbec.params.export_controls import controls_on, load_export_controls
from cbec.rules import export as X
from cbec.rules import export_returns as XR
from cbec.store import counters
from cbec.store import documents as documents_repo
from cbec.store import inbox as inbox_repo
from cbec.store import outbox as outbox_repo
from cbec.store._common import Outcome, chunks
from cbec.store.bulk import insert_frame
from cbec.store.schema import decision as decision_table
from cbec.store.schema import (
    export_bill_line,
    export_list,
    export_movement,
    export_refund_line,
)

#: message type -> (phase, document kind, head entity, line entity, receipt type)
MESSAGES: Mapping[str, tuple[int, str, str, str | None, str]] = {
    "CEB303Message": (0, "x_order", "OrderHead", "OrderList", "CEB304Message"),
    "CEB403Message": (0, "x_receipts", "Receipts", None, "CEB404Message"),
    "CEB505Message": (0, "x_waybill", "Logistics", None, "CEB506Message"),
    "CEB603Message": (0, "x_list", "InventoryHead", "InventoryList", "CEB604Message"),
    "CEB507Message": (1, "arrival", "ArrivalHead", "ArrivalList", "CEB508Message"),
    "CEB607Message": (2, "masterbill", "WayBillHead", "WayBillList", "CEB608Message"),
    "CEB605Message": (3, "x_cancel", "InvtCancel", None, "CEB606Message"),
    "CEB509Message": (4, "departure", "DepartureHead", "DepartureList", "CEB510Message"),
}
EXPORT_TYPES = frozenset(MESSAGES)
INVT_COUNTER = "export_invt_no"
DUPLICATE_CODES = {"x_order": "-301010", "x_receipts": "-401007", "x_waybill": "-504015"}
#: the fields each receipt repeats from its document, kept as the document's payload
PAYLOAD = {
    "x_order": ("ebpCode", "ebcCode", "orderNo"),
    "x_receipts": ("ebcCode", "orderNo", "payNo"),
    "x_waybill": ("logisticsCode", "logisticsNo"),
}


def _key(*cols: str) -> pl.Expr:
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in cols], separator="|")


def list_key_expr() -> pl.Expr:
    return pl.concat_str([pl.lit("E"), _key("ebpCode", "orderNo")], separator="|")


@dataclass
class _Run:
    conn: Connection
    batch: ColumnBatch
    now: datetime
    params: ParameterSet
    hs: pl.DataFrame
    inbox_ids: Mapping[int, int]
    batch_id: int | None
    receipts: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def at(self) -> datetime:
        return L.aware_utc(self.now)

    @property
    def naive(self) -> datetime:
        return L.naive_utc(self.now)

    def p(self) -> X.ExportParams:
        return X.ExportParams.at(self.params, self.naive.date())

    # --- reading the batch ------------------------------------------------------------------------------
    def heads(self, mtype: str, msgs: Sequence[int]) -> pl.DataFrame:
        entity = MESSAGES[mtype][2]
        table = self.batch.tables.get((mtype, entity))
        if table is None or table.height == 0:
            return pl.DataFrame()
        senders = self.batch.messages.select("_msg", pl.col("copCode").fill_null("unknown").alias("sender"))
        return (
            table.filter(pl.col("_msg").is_in(list(msgs)))
            .join(senders, on="_msg", how="left")
            .sort("_msg", "_doc")
        )

    def lines(self, mtype: str, msgs: Sequence[int]) -> pl.DataFrame:
        entity = MESSAGES[mtype][3]
        table = self.batch.tables.get((mtype, entity)) if entity else None
        if table is None or table.height == 0:
            return pl.DataFrame()
        return table.filter(pl.col("_msg").is_in(list(msgs))).sort("_msg", "_doc", "_line")

    # --- receipts ---------------------------------------------------------------------------------------
    def answer(
        self, mtype: str, frame: pl.DataFrame, status: int | pl.Expr, info: pl.Expr, step: int = 0
    ) -> None:
        """Queue receipts of ``mtype`` for the rows of ``frame`` (which carries ``recipient`` and the fields
        the receipt repeats); ``step`` milliseconds keep 120 → 399 → 800 → 899 in order."""
        if frame.height == 0:
            return
        status_e = status if isinstance(status, pl.Expr) else pl.lit(status)
        self.receipts[mtype].append(
            frame.with_columns(
                status_e.cast(pl.String).alias("returnStatus"),
                pl.lit(self.naive + timedelta(milliseconds=step)).alias("returnTime"),
                info.str.slice(0, 1000).alias("returnInfo"),
            )
        )

    def encoded(self) -> list[outbox_repo.Receipt]:
        out: list[outbox_repo.Receipt] = []
        for mtype, frames in self.receipts.items():
            frame = pl.concat(frames, how="diagonal_relaxed")
            for (recipient,), group in frame.group_by(["recipient"], maintain_order=True):
                to = str(recipient or "unknown")
                key = (
                    str(group["list_key"][0])
                    if "list_key" in group.columns
                    and group["list_key"].n_unique() == 1
                    and group["list_key"][0] is not None
                    else to
                )
                for xml in encode_receipts(mtype, group):
                    out.append(outbox_repo.Receipt(mtype, to, key[:200], L._root_guid(xml), 0, xml))
        return out

    # --- storing documents ------------------------------------------------------------------------------
    def store_documents(
        self, kind: str, frame: pl.DataFrame, key: pl.Expr, status: int, payload: Sequence[str] = ()
    ) -> pl.DataFrame:
        """Insert the documents; return ``frame`` with ``business_key`` and ``outcome`` (new, repeat,
        duplicate, conflict).  Repeats are counted; the caller answers duplicates."""
        if frame.height == 0:
            return frame
        frame = frame.with_columns(key.str.slice(0, 200).alias("business_key"))
        rows = []
        for r in frame.iter_rows(named=True):
            body = {name: _plain(r.get(name)) for name in payload}
            body["sender"] = r["sender"]
            rows.append(
                documents_repo.NewDocument(
                    kind=kind,
                    guid=str(r["guid"]),
                    business_key=r["business_key"],
                    inbox_id=self.inbox_ids[int(r["_msg"])],
                    payload=json.dumps(body, ensure_ascii=False),
                    status=status,
                    app_type=str(r.get("appType") or "1")[:1],
                    received_at=self.at,
                )
            )
        outcomes = documents_repo.insert_documents(self.conn, rows)
        frame = frame.with_columns(pl.Series("outcome", [o.outcome.value for o in outcomes], dtype=pl.String))
        repeats = frame.filter(pl.col("outcome") == Outcome.REPEAT.value).height
        if repeats:
            self.counts["repeats"] += repeats
        return frame

    def settle(
        self,
        kind: str,
        mtype: str,
        judged: pl.DataFrame,
        fields: Sequence[str | pl.Expr],
        *,
        accepted: int,
        answer: int,
        info: pl.Expr,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Documents of ``kind`` judged (``ok``, else ``code``/``reason_zh``/``reason_en``): the refused ones
        stored as refused and answered with their reasons, the others stored at ``accepted`` and answered
        ``answer`` with ``info``.  Returns (ok, refused) for what the caller does next."""
        ok = judged.filter(pl.col("ok"))
        bad = judged.filter(~pl.col("ok"))
        self.set_document_status(kind, bad["guid"].to_list(), X.REFUSED)
        self.set_document_status(kind, ok["guid"].to_list(), accepted)
        self.answer(
            mtype,
            bad.select(*fields, "code", "reason_zh", "reason_en"),
            X.REFUSED,
            _info(pl.col("code"), pl.col("reason_zh"), pl.col("reason_en")),
        )
        self.answer(mtype, ok.select(*fields), answer, info)
        return ok, bad

    def set_document_status(self, kind: str, guids: Iterable[str], status: int) -> None:
        frame = pl.DataFrame({"guid": sorted(set(guids))}, schema={"guid": pl.String()})
        if frame.height:
            documents_repo.set_statuses(
                self.conn, frame.with_columns(pl.lit(kind).alias("kind"), pl.lit(status).alias("status"))
            )

    def decide(self, frame: pl.DataFrame, status: int | pl.Expr, rule: str | pl.Expr) -> None:
        """Decision rows (list_key, invt_no, code, reason_zh, reason_en) for lists moved now."""
        if frame.height == 0:
            return
        insert_frame(
            self.conn,
            decision_table,
            frame.select(
                "list_key",
                pl.col("invt_no"),
                (status if isinstance(status, pl.Expr) else pl.lit(status)).cast(pl.Int64).alias("status"),
                pl.col("code").cast(pl.String)
                if "code" in frame.columns
                else pl.lit(None, pl.String).alias("code"),
                (rule if isinstance(rule, pl.Expr) else pl.lit(rule)).alias("rule"),
                "reason_zh",
                "reason_en",
                pl.lit(self.at).dt.convert_time_zone("UTC").alias("decided_at"),
                pl.lit(self.batch_id, pl.Int64).alias("batch_id"),
            ),
        )

    # --- the export lists in the store ------------------------------------------------------------------
    def stored_lists(self, where: Any) -> pl.DataFrame:
        cols = [
            export_list.c.list_key,
            export_list.c.guid,
            export_list.c.invt_no,
            export_list.c.order_key,
            export_list.c.waybill_key,
            export_list.c.trade_mode,
            export_list.c.statistics_flag,
            export_list.c.ebp_code,
            export_list.c.order_no,
            export_list.c.ebc_code,
            export_list.c.agent_code,
            export_list.c.cop_no,
            export_list.c.pre_no,
            export_list.c.sender,
            export_list.c.status,
            export_list.c.inbox_id,
            export_list.c.declared_at,
            export_list.c.id,
        ]
        rows = [tuple(r) for r in self.conn.execute(select(*cols).where(where).order_by(export_list.c.id))]
        schema = {
            "list_key": pl.String(),
            "guid": pl.String(),
            "invt_no": pl.String(),
            "order_key": pl.String(),
            "waybill_key": pl.String(),
            "trade_mode": pl.String(),
            "statistics_flag": pl.String(),
            "ebp_code": pl.String(),
            "order_no": pl.String(),
            "ebc_code": pl.String(),
            "agent_code": pl.String(),
            "cop_no": pl.String(),
            "pre_no": pl.String(),
            "sender": pl.String(),
            "status": pl.Int64(),
            "inbox_id": pl.Int64(),
            "declared_at": pl.Datetime("us", "UTC"),
            "id": pl.Int64(),
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def lists_by(self, column: str, values: Iterable[str]) -> pl.DataFrame:
        vals = sorted({v for v in values if v})
        frames = [self.stored_lists(getattr(export_list.c, column).in_(part)) for part in chunks(vals)]
        frames = [f for f in frames if f.height]
        if not frames:
            return self.stored_lists(export_list.c.id < 0)
        return pl.concat(frames)

    def live_by_waybill(self, keys: Iterable[str]) -> pl.DataFrame:
        """One list per parcel: the latest that is not refused, else the latest."""
        found = self.lists_by("waybill_key", keys)
        return (
            found.with_columns((pl.col("status") != X.REFUSED).alias("_live"))
            .sort("_live", "id")
            .unique("waybill_key", keep="last")
            .drop("_live")
        )

    def move_lists(self, frame: pl.DataFrame, status: int, **stamps: Any) -> None:
        """Set the status (and timestamps) of the lists in ``frame`` (list_key)."""
        keys = frame["list_key"].to_list() if frame.height else []
        for part in chunks(sorted(set(keys))):
            self.conn.execute(
                update(export_list).where(export_list.c.list_key.in_(part)).values(status=status, **stamps)
            )
        self.set_document_status("x_list", frame["guid"].to_list() if frame.height else [], status)

    def list_receipt(self, frame: pl.DataFrame, status: int, info: pl.Expr, step: int) -> None:
        """CEB604 for stored lists (columns of :meth:`stored_lists`)."""
        self.answer(
            "CEB604Message",
            frame.select(
                pl.col("sender").alias("recipient"),
                "list_key",
                "guid",
                pl.col("agent_code").alias("agentCode"),
                pl.col("cop_no").alias("copNo"),
                pl.col("pre_no").alias("preNo"),
                pl.col("invt_no").alias("invtNo"),
                pl.col("ebc_code").alias("ebcCode"),
                pl.col("ebp_code").alias("ebpCode"),
                pl.col("order_no").alias("orderNo"),
                pl.col("statistics_flag").alias("statisticsFlag"),
            ),
            status,
            info,
            step,
        )

    def release_arrived(self, concluded: pl.DataFrame) -> None:
        """Concluded lists whose parcel is already at the supervised site: released (800) now."""
        if concluded.height == 0:
            return
        arrived = self.conn.execute(
            select(export_movement.c.waybill_key).where(
                export_movement.c.kind == "arrival",
                export_movement.c.waybill_key.in_(concluded["waybill_key"].to_list()),
            )
        ).scalars()
        moving = concluded.join(
            X.released_by_arrival(
                concluded.with_columns(pl.lit(X.CONCLUDED).alias("status")),
                pl.Series(list(arrived), dtype=pl.String),
            ),
            on="list_key",
            how="semi",
        )
        self._release(moving)

    def _release(self, moving: pl.DataFrame) -> None:
        if moving.height == 0:
            return
        self.move_lists(moving, X.RELEASED, released_at=self.at)
        why = moving.with_columns(
            pl.lit("已运抵监管场所，海关放行").alias("reason_zh"),
            pl.lit("arrived at the supervised site; released by customs").alias("reason_en"),
        )
        self.decide(why, X.RELEASED, "export.arrival")
        self.list_receipt(
            why,
            X.RELEASED,
            pl.lit("已运抵监管场所，海关放行 / arrived at the supervised site; released by customs"),
            3,
        )
        self.counts["released"] += moving.height


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _info(code: pl.Expr | None, zh: pl.Expr, en: pl.Expr) -> pl.Expr:
    parts = [zh, pl.lit(" / "), en]
    if code is not None:
        parts = [code.fill_null(""), pl.lit(" "), *parts]
    return pl.concat_str(parts).str.strip_chars()


def return_bill_messages(batch: ColumnBatch, indices: Iterable[int]) -> set[int]:
    """CEB607 messages that are return master bills: every line names an original list (see
    :func:`cbec.rules.export_returns.return_bill_messages`)."""
    lines = batch.tables.get(("CEB607Message", "WayBillList"))
    if lines is None or lines.height == 0:
        return set()
    return set(XR.return_bill_messages(lines.filter(pl.col("_msg").is_in(sorted(set(indices))))))


def _segments(wanted: Sequence[int], types: pl.Series) -> list[list[int]]:
    """Runs of messages whose phases never go down, in batch order."""
    out: list[list[int]] = []
    last = 99
    for i in wanted:
        phase = MESSAGES[types[i]][0]
        if not out or phase < last:
            out.append([])
        out[-1].append(i)
        last = phase
    return out


def process(
    conn: Connection,
    batch: ColumnBatch,
    indices: Iterable[int],
    *,
    now: datetime,
    params: ParameterSet,
    hs: pl.DataFrame,
    inbox_ids: Mapping[int, int],
    batch_id: int | None = None,
) -> tuple[list[outbox_repo.Receipt], dict[str, int]]:
    """Clear the export messages among ``indices``; returns the receipts to queue and counts."""
    types = batch.messages["message_type"]
    # consolidated return master bills (CEB607 naming original lists) belong to cbec.engine.export_returns
    returns = return_bill_messages(batch, [i for i in set(indices) if types[i] == "CEB607Message"])
    wanted = sorted(i for i in set(indices) if types[i] in EXPORT_TYPES and i not in returns)
    if not wanted:
        return [], {}
    run = _Run(conn, batch, now, params, hs, inbox_ids, batch_id)
    for segment in _segments(wanted, types):
        by_type: dict[str, list[int]] = defaultdict(list)
        for i in segment:
            by_type[types[i]].append(i)
        if any(t in by_type for t in ("CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message")):
            _documents(run, by_type)
        if "CEB507Message" in by_type:
            _arrivals(run, by_type["CEB507Message"])
        if "CEB607Message" in by_type:
            _bills(run, by_type["CEB607Message"])
        if "CEB605Message" in by_type:
            _cancels(run, by_type["CEB605Message"])
        if "CEB509Message" in by_type:
            _departures(run, by_type["CEB509Message"])
    if not any(MESSAGES[types[i]][0] == 0 for i in wanted):
        _documents(run, {})  # no new documents: still refuse the waiting lists whose wait is over
    return run.encoded(), {k: v for k, v in run.counts.items() if v}


# --- phase 0: orders, collections, waybills, lists -------------------------------------------
def _refuse_app_type(run: _Run, mtype: str, frame: pl.DataFrame, fields: Sequence[str]) -> pl.DataFrame:
    """Modifications and deletions (appType 2/3) are refused without effect: cbec keeps first versions."""
    if frame.height == 0:
        return frame
    bad = frame.filter(pl.col("appType").cast(pl.String) != "1")
    run.answer(
        mtype,
        bad.select(pl.col("sender").alias("recipient"), *fields),
        X.REFUSED,
        _info(
            pl.lit(X.DOC_APP_TYPE),
            pl.lit("cbec只受理新增（appType=1）的单证"),
            pl.lit("only new documents (appType 1) are accepted"),
        ),
    )
    run.counts["refused_documents"] += bad.height
    return frame.filter(pl.col("appType").cast(pl.String) == "1")


def _documents(run: _Run, by_type: Mapping[str, list[int]]) -> None:
    conn = run.conn
    orders = run.heads("CEB303Message", by_type.get("CEB303Message", []))
    order_lines = run.lines("CEB303Message", by_type.get("CEB303Message", []))
    colls = run.heads("CEB403Message", by_type.get("CEB403Message", []))
    waybills = run.heads("CEB505Message", by_type.get("CEB505Message", []))
    lists = run.heads("CEB603Message", by_type.get("CEB603Message", []))
    list_lines = run.lines("CEB603Message", by_type.get("CEB603Message", []))

    orders = _refuse_app_type(run, "CEB304Message", orders, ("guid", "ebpCode", "ebcCode", "orderNo"))
    colls = _refuse_app_type(run, "CEB404Message", colls, ("guid", "ebcCode", "orderNo", "payNo"))
    waybills = _refuse_app_type(run, "CEB506Message", waybills, ("guid", "logisticsCode", "logisticsNo"))

    stored: dict[str, pl.DataFrame] = {}
    for kind, mtype, frame, key in (
        ("x_order", "CEB304Message", orders, _key("ebpCode", "orderNo")),
        ("x_receipts", "CEB404Message", colls, _key("ebpCode", "orderNo")),
        ("x_waybill", "CEB506Message", waybills, _key("logisticsCode", "logisticsNo")),
    ):
        done = run.store_documents(kind, frame, key, X.WAITING, PAYLOAD[kind])
        if done.height:
            dup = done.filter(pl.col("outcome").is_in([Outcome.DUPLICATE.value, Outcome.CONFLICT.value]))
            run.answer(
                mtype,
                dup.with_columns(pl.col("sender").alias("recipient")),
                X.REFUSED,
                _info(
                    pl.lit(DUPLICATE_CODES[kind]),
                    pl.format("已存在相同编号的单证{}", "business_key"),
                    pl.format("a document with the same number {} already exists", "business_key"),
                ),
            )
            run.counts[f"{kind}_duplicate"] += dup.height
            stored[kind] = done.filter(pl.col("outcome") == Outcome.NEW.value)
        else:
            stored[kind] = done
    new_orders, new_colls, new_waybills = stored["x_order"], stored["x_receipts"], stored["x_waybill"]

    # lists: every one that is not a repeat gets its invtNo now (CEB604 requires one in every receipt)
    new_lists = pl.DataFrame()
    if lists.height:
        lists = lists.with_columns(
            list_key_expr().alias("list_key"),
            _key("ebpCode", "orderNo").alias("order_key"),
            _key("logisticsCode", "logisticsNo").alias("waybill_key"),
            pl.coalesce(pl.col("copNo"), pl.col("orderNo").str.slice(0, 20)).alias("copNo"),
        )
        lists = lists.with_columns(
            pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo")
        )
        lists = run.store_documents("x_list", lists, pl.col("list_key"), X.WAITING)
        fresh = lists.filter(pl.col("outcome") != Outcome.REPEAT.value)
        if fresh.height:
            before = counters.current(conn, INVT_COUNTER)
            fresh = fresh.with_columns(
                pl.format(
                    "{}{}E{}",
                    pl.col("customsCode"),
                    pl.col("appTime").dt.year(),
                    (pl.int_range(pl.len()) + before + 1).cast(pl.String).str.zfill(9),
                ).alias("invtNo")
            )
            counters.advance(conn, INVT_COUNTER, fresh.height)
            dup = fresh.filter(pl.col("outcome") != Outcome.NEW.value)
            run.answer(
                "CEB604Message",
                _list_fields(dup),
                X.REFUSED,
                _info(
                    pl.lit(X.LIST_DUPLICATE),
                    pl.format("订单{}已申报出口清单，不能重复申报", "orderNo"),
                    pl.format("an export list was already declared for order {}", "orderNo"),
                ),
            )
            run.counts["lists_duplicate"] += dup.height
            new_lists = fresh.filter(pl.col("outcome") == Outcome.NEW.value)
            if new_lists.height:
                insert_frame(
                    conn,
                    export_list,
                    new_lists.select(
                        "list_key",
                        "guid",
                        pl.col("invtNo").alias("invt_no"),
                        "order_key",
                        "waybill_key",
                        pl.col("tradeMode").fill_null("").alias("trade_mode"),
                        pl.col("statisticsFlag").fill_null("").alias("statistics_flag"),
                        pl.col("customsCode").alias("customs_code"),
                        pl.col("ebpCode").alias("ebp_code"),
                        pl.col("orderNo").alias("order_no"),
                        pl.col("ebcCode").alias("ebc_code"),
                        pl.col("agentCode").alias("agent_code"),
                        pl.col("copNo").alias("cop_no"),
                        pl.col("preNo").alias("pre_no"),
                        "sender",
                        pl.lit(X.WAITING).alias("status"),
                        pl.col("_msg")
                        .replace_strict(dict(run.inbox_ids), return_dtype=pl.Int64)
                        .alias("inbox_id"),
                        pl.lit(run.at).dt.convert_time_zone("UTC").alias("declared_at"),
                    ),
                )

    # which lists to decide now: the new ones, waiting ones whose partner came, and waiting ones now expired
    p = run.p()
    cutoff = run.at - p.expiry
    order_keys = (
        new_orders.select(_key("ebpCode", "orderNo")).to_series().to_list() if new_orders.height else []
    )
    waybill_keys = (
        new_waybills.select(_key("logisticsCode", "logisticsNo")).to_series().to_list()
        if new_waybills.height
        else []
    )
    conditions = [export_list.c.declared_at < cutoff]
    for part in chunks(sorted(set(order_keys))):
        conditions.append(export_list.c.order_key.in_(part))
    for part in chunks(sorted(set(waybill_keys))):
        conditions.append(export_list.c.waybill_key.in_(part))
    waiting = run.stored_lists(and_(export_list.c.status == X.WAITING, or_(*conditions)))
    new_keys = set(new_lists["list_key"].to_list()) if new_lists.height else set()
    waiting = waiting.filter(~pl.col("list_key").is_in(list(new_keys)))

    heads, lines = _candidate_lists(run, new_lists, list_lines, waiting)
    if heads.height:
        _decide_lists(run, heads, lines, new_orders, order_lines, new_waybills, new_keys, p)

    # receipts of the new orders, waybills and collections that no list concluded now: waiting (2)
    concluded_orders = _lists_at_least(
        run,
        order_keys
        + (new_colls.select(_key("ebpCode", "orderNo")).to_series().to_list() if new_colls.height else []),
    )
    _ack_waiting(run, new_orders, new_waybills, new_colls, concluded_orders)


def _list_fields(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("sender").alias("recipient"),
        "list_key",
        "guid",
        "agentCode",
        "copNo",
        "preNo",
        "invtNo",
        "ebcCode",
        "ebpCode",
        "orderNo",
        pl.col("statisticsFlag").fill_null("B"),
    )


def _decoded(
    run: _Run, inbox_ids: Iterable[int], mtype: str, guids: Iterable[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Heads and lines of stored documents, decoded again from their inbox messages (the record)."""
    ids = sorted(set(inbox_ids))
    if not ids:
        return pl.DataFrame(), pl.DataFrame()
    raws = inbox_repo.raw_by_ids(run.conn, ids)
    decoded = decode_batch([raws[i] for i in ids if i in raws])
    _phase, _kind, head_name, line_name, _r = MESSAGES[mtype]
    heads = decoded.tables.get((mtype, head_name), pl.DataFrame())
    if heads.height == 0:
        return pl.DataFrame(), pl.DataFrame()
    heads = heads.filter(pl.col("guid").is_in(sorted(set(guids)))).unique("guid", keep="first")
    lines = decoded.tables.get((mtype, line_name), pl.DataFrame()) if line_name else pl.DataFrame()
    if lines.height:
        lines = lines.join(heads.select("_msg", "_doc", "guid"), on=["_msg", "_doc"], how="inner")
    return heads, lines


def _candidate_lists(
    run: _Run, new_lists: pl.DataFrame, new_lines: pl.DataFrame, waiting: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Heads (with list_key, order_key, waybill_key, received_at) and lines (with list_key) to decide."""
    frames_h, frames_l = [], []
    if new_lists.height:
        frames_h.append(new_lists.with_columns(pl.lit(run.naive).alias("received_at")))
        if new_lines.height:
            frames_l.append(new_lines.join(new_lists.select("_msg", "_doc", "list_key"), on=["_msg", "_doc"]))
    if waiting.height:
        heads, lines = _decoded(
            run, waiting["inbox_id"].to_list(), "CEB603Message", waiting["guid"].to_list()
        )
        if heads.height:
            keyed = waiting.select(
                "guid",
                "list_key",
                "order_key",
                "waybill_key",
                pl.col("invt_no").alias("invtNo"),
                "sender",
                pl.col("cop_no").alias("copNo_stored"),
                pl.col("pre_no").alias("preNo_stored"),
                pl.col("declared_at")
                .dt.convert_time_zone("UTC")
                .dt.replace_time_zone(None)
                .alias("received_at"),
            )
            heads = (
                heads.drop("invtNo", "sender", strict=False)
                .join(keyed, on="guid", how="inner")
                .with_columns(pl.col("copNo_stored").alias("copNo"), pl.col("preNo_stored").alias("preNo"))
                .drop("copNo_stored", "preNo_stored")
            )
            frames_h.append(heads)
            if lines.height:
                frames_l.append(lines.join(keyed.select("guid", "list_key"), on="guid").drop("guid"))
    if not frames_h:
        return pl.DataFrame(), pl.DataFrame()
    heads_all = pl.concat(frames_h, how="diagonal_relaxed")
    lines_all = pl.concat(frames_l, how="diagonal_relaxed") if frames_l else pl.DataFrame()
    return heads_all, lines_all


def _decide_lists(
    run: _Run,
    heads: pl.DataFrame,
    lines: pl.DataFrame,
    new_orders: pl.DataFrame,
    new_order_lines: pl.DataFrame,
    new_waybills: pl.DataFrame,
    new_keys: set[str],
    p: X.ExportParams,
) -> None:
    conn = run.conn
    # the partner documents: this batch's, and those stored earlier (decoded again for the order's lines)
    orders = (
        new_orders.with_columns(_key("ebpCode", "orderNo").alias("order_key"))
        if new_orders.height
        else pl.DataFrame()
    )
    order_lines = pl.DataFrame()
    if new_orders.height and new_order_lines.height:
        order_lines = new_order_lines.join(orders.select("_msg", "_doc", "order_key"), on=["_msg", "_doc"])
    have = set(orders["order_key"].to_list()) if orders.height else set()
    wanted_orders = sorted(set(heads["order_key"].to_list()) - have)
    earlier = documents_repo.by_business_keys(conn, "x_order", wanted_orders)
    if earlier:
        o_heads, o_lines = _decoded(
            run, [r.inbox_id for r in earlier.values()], "CEB303Message", [r.guid for r in earlier.values()]
        )
        if o_heads.height:
            o_heads = o_heads.with_columns(_key("ebpCode", "orderNo").alias("order_key"))
            orders = pl.concat([orders, o_heads], how="diagonal_relaxed") if orders.height else o_heads
            if o_lines.height:
                o_lines = o_lines.join(o_heads.select("guid", "order_key"), on="guid").drop("guid")
                order_lines = (
                    pl.concat([order_lines, o_lines], how="diagonal_relaxed")
                    if order_lines.height
                    else o_lines
                )
    waybill_have = (
        set(new_waybills.select(_key("logisticsCode", "logisticsNo")).to_series().to_list())
        if new_waybills.height
        else set()
    )
    waybill_have |= documents_repo.existing_keys(conn, "x_waybill", heads["waybill_key"].to_list())

    if lines.height == 0:
        lines = pl.DataFrame(
            schema={
                "list_key": pl.String(),
                "gnum": pl.Int64(),
                "gcode": pl.String(),
                "note": pl.String(),
                "currency": pl.String(),
                "totalPrice": pl.Decimal(19, 5),
                "qty": pl.Decimal(19, 5),
                "gname": pl.String(),
            }
        )
    controls = controls_on(load_export_controls(), p.on)
    facts = X.line_facts(lines, heads.select("list_key", "statisticsFlag"), controls, run.hs["hs10"])
    violations = [X.validate_lists(heads, facts, p)]
    if orders.height:
        with_order = heads.filter(pl.col("order_key").is_in(orders["order_key"].to_list()))
        violations.append(
            X.match_lists(
                with_order,
                lines.filter(pl.col("list_key").is_in(with_order["list_key"].to_list())),
                orders,
                order_lines
                if order_lines.height
                else pl.DataFrame(
                    schema={"order_key": pl.String(), "gnum": pl.Int64(), "itemName": pl.String()}
                ),
            )
        )
    order_set = set(orders["order_key"].to_list()) if orders.height else set()
    sets = heads.select(
        "list_key",
        pl.col("order_key").is_in(sorted(order_set)).alias("has_order"),
        pl.col("waybill_key").is_in(sorted(waybill_have)).alias("has_waybill"),
        pl.col("received_at").cast(pl.Datetime("us")),
    )
    decided = X.decide_lists(sets, pl.concat(violations), now=run.naive, expiry=p.expiry)
    facts_all = heads.join(decided, on="list_key")

    fresh = pl.col("list_key").is_in(sorted(new_keys))
    new_waiting = facts_all.filter(fresh & (pl.col("status") == X.WAITING))
    run.answer(
        "CEB604Message",
        _list_fields(new_waiting),
        X.WAITING,
        _info(
            None,
            pl.lit("电子口岸申报中，等待订单和运单"),
            pl.lit("declared; waiting for the order and waybill"),
        ),
    )
    refused = facts_all.filter(pl.col("status") == X.REFUSED)
    if refused.height:
        run.move_lists(refused, X.REFUSED)
        run.decide(refused.with_columns(pl.col("invtNo").alias("invt_no")), X.REFUSED, pl.col("rule"))
        run.answer(
            "CEB604Message",
            _list_fields(refused).with_columns(refused.select("code", "reason_zh", "reason_en")),
            X.REFUSED,
            _info(pl.col("code"), pl.col("reason_zh"), pl.col("reason_en")),
        )
        for rule, code, n in refused.group_by("rule", "code").len().iter_rows():
            run.counts[f"refused {rule} {code}"] += int(n)
    concluded = facts_all.filter(pl.col("status") == X.CONCLUDED)
    if concluded.height:
        run.move_lists(concluded, X.CONCLUDED, concluded_at=run.at)
        run.decide(concluded.with_columns(pl.col("invtNo").alias("invt_no")), X.CONCLUDED, "export.conclude")
        cols = _list_fields(concluded)
        run.answer("CEB604Message", cols, X.ACCEPTED, pl.lit("海关入库 / accepted into customs' system"), 1)
        run.answer("CEB604Message", cols, X.CONCLUDED, pl.lit("海关审结 / concluded by customs"), 2)
        run.counts["concluded"] += concluded.height
        _partners_answered(run, concluded)
        _flag_prerefund(run, concluded, facts, p)
        run.release_arrived(
            concluded.select(
                "list_key",
                "guid",
                pl.col("invtNo").alias("invt_no"),
                "waybill_key",
                "sender",
                pl.col("agentCode").alias("agent_code"),
                pl.col("copNo").alias("cop_no"),
                pl.col("preNo").alias("pre_no"),
                pl.col("ebcCode").alias("ebc_code"),
                pl.col("ebpCode").alias("ebp_code"),
                pl.col("orderNo").alias("order_no"),
                pl.col("statisticsFlag").alias("statistics_flag"),
            )
        )


def _partners_answered(run: _Run, concluded: pl.DataFrame) -> None:
    """The order (304: 120), waybill (506: 399) and any collection (404: 120) of lists concluded now."""
    keys = concluded["order_key"].to_list()
    for kind, mtype, status, bkeys in (
        ("x_order", "CEB304Message", X.ACCEPTED, keys),
        ("x_receipts", "CEB404Message", X.ACCEPTED, keys),
        ("x_waybill", "CEB506Message", X.CONCLUDED, concluded["waybill_key"].to_list()),
    ):
        docs = [
            r
            for r in documents_repo.by_business_keys(run.conn, kind, bkeys).values()
            if r.status == X.WAITING
        ]
        if not docs:
            continue
        rows = []
        for r in docs:
            body = json.loads(r.payload or "{}")
            rows.append({"guid": r.guid, "recipient": body.pop("sender", "unknown"), **body})
        frame = pl.DataFrame(rows, infer_schema_length=None)
        run.set_document_status(kind, [r.guid for r in docs], status)
        zh, en = (
            ("清单已审结，单证入库", "its list is concluded; accepted")
            if status == X.ACCEPTED
            else ("清单已审结", "its list is concluded")
        )
        run.answer(mtype, frame, status, pl.lit(f"{zh} / {en}"), 1)


def _lists_at_least(run: _Run, order_keys: Sequence[str]) -> set[str]:
    found = run.lists_by("order_key", order_keys)
    return set(
        found.filter(pl.col("status").is_in([X.CONCLUDED, X.RELEASED, X.CLEARED]))["order_key"].to_list()
    )


def _ack_waiting(
    run: _Run, orders: pl.DataFrame, waybills: pl.DataFrame, colls: pl.DataFrame, concluded_orders: set[str]
) -> None:
    """New documents still waiting for their list: 2 (declaring).  A collection whose list is concluded
    already gets its 120 at once."""
    waiting = pl.lit("电子口岸申报中，等待清单 / declared; waiting for its list")
    for mtype, kind, frame, key, fields in (
        (
            "CEB304Message",
            "x_order",
            orders,
            _key("ebpCode", "orderNo"),
            ("guid", "ebpCode", "ebcCode", "orderNo"),
        ),
        (
            "CEB506Message",
            "x_waybill",
            waybills,
            _key("logisticsCode", "logisticsNo"),
            ("guid", "logisticsCode", "logisticsNo"),
        ),
        (
            "CEB404Message",
            "x_receipts",
            colls,
            _key("ebpCode", "orderNo"),
            ("guid", "ebcCode", "orderNo", "payNo"),
        ),
    ):
        if frame.height == 0:
            continue
        current = {
            r.guid: r.status
            for r in documents_repo.by_business_keys(
                run.conn, kind, frame.select(key).to_series().to_list()
            ).values()
        }
        still = frame.filter(pl.col("guid").is_in([g for g, s in current.items() if s == X.WAITING]))
        if kind == "x_receipts":
            ready = still.filter(key.is_in(sorted(concluded_orders)))
            run.set_document_status(kind, ready["guid"].to_list(), X.ACCEPTED)
            run.answer(
                mtype,
                ready.select(pl.col("sender").alias("recipient"), *fields),
                X.ACCEPTED,
                pl.lit("清单已审结，收款单入库 / its list is concluded; accepted"),
                1,
            )
            still = still.filter(~key.is_in(sorted(concluded_orders)))
        run.answer(mtype, still.select(pl.col("sender").alias("recipient"), *fields), X.WAITING, waiting)


def _flag_prerefund(run: _Run, concluded: pl.DataFrame, facts: pl.DataFrame, p: X.ExportParams) -> None:
    """9810 lines marked HWC-YT of lists concluded now: recorded for the pre-refund at departure."""
    mine = concluded.filter(pl.col("tradeMode") == "9810").select("list_key", "invtNo")
    if mine.height == 0:
        return
    rows = X.prerefund_lines(facts.join(mine, on="list_key", how="semi"), p).join(mine, on="list_key")
    if rows.height == 0:
        return
    insert_frame(
        run.conn,
        export_refund_line,
        rows.select(
            "list_key",
            "gnum",
            pl.col("invtNo").alias("invt_no"),
            "gcode",
            "qty_e5",
            "value_fen",
            "refund_rate_bp",
            pl.lit("flagged").alias("status"),
            pl.lit(run.at).dt.convert_time_zone("UTC").alias("updated_at"),
        ),
        ignore_conflicts=True,
    )
    run.counts["prerefund_lines"] += rows.height


# --- phase 1: arrivals (运抵) ------------------------------------------------------------------
def _arrivals(run: _Run, msgs: list[int]) -> None:
    heads = run.heads("CEB507Message", msgs)
    lines = run.lines("CEB507Message", msgs)
    if heads.height == 0:
        return
    heads = heads.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo"),
        pl.coalesce(pl.col("billNo"), pl.lit("无")).alias("billNo_r"),
    )
    heads = run.store_documents("arrival", heads, _key("operatorCode", "copNo", "msgSeqNo"), X.WAITING)
    fields = (
        pl.col("sender").alias("recipient"),
        "guid",
        "operatorCode",
        "logisticsCode",
        "preNo",
        "copNo",
        pl.col("billNo_r").alias("billNo"),
        "msgSeqNo",
    )
    dup = heads.filter(pl.col("outcome").is_in([Outcome.DUPLICATE.value, Outcome.CONFLICT.value]))
    run.answer(
        "CEB508Message",
        dup.select(*fields),
        X.REFUSED,
        _info(
            pl.lit(X.ARRIVAL_FIELDS), pl.lit("运抵单重复申报"), pl.lit("this arrival was already declared")
        ),
    )
    new = heads.filter(pl.col("outcome") == Outcome.NEW.value)
    bad = new.filter((pl.col("appType").cast(pl.String) != "1") | (pl.col("ieFlag") != "E"))
    run.answer(
        "CEB508Message",
        bad.select(*fields),
        X.REFUSED,
        _info(
            pl.lit(X.ARRIVAL_FIELDS),
            pl.lit("出口运抵单须为新增（appType=1）且ieFlag为E"),
            pl.lit("an export arrival must be new (appType 1) with ieFlag E"),
        ),
    )
    run.set_document_status("arrival", bad["guid"].to_list(), X.REFUSED)
    ok = new.filter((pl.col("appType").cast(pl.String) == "1") & (pl.col("ieFlag") == "E"))
    if ok.height == 0:
        return
    run.set_document_status("arrival", ok["guid"].to_list(), X.CONCLUDED)
    run.answer("CEB508Message", ok.select(*fields), X.CONCLUDED, pl.lit("运抵单审核通过 / arrival accepted"))
    run.counts["arrivals"] += ok.height
    if lines.height == 0:
        return
    moved = lines.join(
        ok.select("_msg", "_doc", pl.col("guid").alias("doc_guid"), "logisticsCode", "customsCode", "billNo"),
        on=["_msg", "_doc"],
    )
    moved = moved.with_columns(_key("logisticsCode", "logisticsNo").alias("waybill_key"))
    live = run.live_by_waybill(moved["waybill_key"].to_list())
    insert_frame(
        run.conn,
        export_movement,
        moved.join(live.select("waybill_key", "list_key"), on="waybill_key", how="left").select(
            pl.lit("arrival").alias("kind"),
            "doc_guid",
            pl.col("gnum").cast(pl.Int64),
            "waybill_key",
            "list_key",
            pl.col("customsCode").alias("customs_code"),
            pl.col("billNo").alias("bill_no"),
            pl.lit(run.at).dt.convert_time_zone("UTC").alias("at"),
            pl.lit(run.batch_id, pl.Int64).alias("batch_id"),
        ),
        ignore_conflicts=True,
    )
    run._release(X.released_by_arrival(live, moved["waybill_key"]).join(live, on="list_key"))


# --- phase 2: master/sub-bills (总分单) ---------------------------------------------------------
#: the CEB608 receipt's fields, taken from the CEB607 head
BILL_RECEIPT_FIELDS = (
    pl.col("sender").alias("recipient"),
    "guid",
    "agentCode",
    "logisticsCode",
    "copNo",
    "preNo",
    "billNo",
    "msgSeqNo",
)


def new_master_bills(run: _Run, heads: pl.DataFrame, kind: str, code: str) -> pl.DataFrame:
    """Store the CEB607 heads as documents of ``kind`` and refuse repeats (CEB608 with ``code``); the heads
    stored for the first time come back, numbered (``doc``) and with their ``preNo``.  Shared by export master
    bills and consolidated return bills, which differ only in what their lines are checked against."""
    heads = heads.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo"),
        pl.int_range(pl.len()).alias("doc"),
    )
    heads = run.store_documents(kind, heads, _key("agentCode", "copNo", "msgSeqNo"), X.WAITING)
    dup = heads.filter(pl.col("outcome").is_in([Outcome.DUPLICATE.value, Outcome.CONFLICT.value]))
    run.answer(
        "CEB608Message",
        dup.select(*BILL_RECEIPT_FIELDS),
        X.REFUSED,
        _info(pl.lit(code), pl.lit("总分单重复申报"), pl.lit("this master/sub-bill was already declared")),
    )
    return heads.filter(pl.col("outcome") == Outcome.NEW.value)


def _bills(run: _Run, msgs: list[int]) -> None:
    heads = run.heads("CEB607Message", msgs)
    lines = run.lines("CEB607Message", msgs)
    if heads.height == 0:
        return
    new = new_master_bills(run, heads, "masterbill", X.BILL_UNKNOWN)
    fields = BILL_RECEIPT_FIELDS
    if new.height == 0:
        return
    bl = lines.join(new.select("_msg", "_doc", "doc", "logisticsCode"), on=["_msg", "_doc"]).with_columns(
        _key("logisticsCode", "logisticsNo").alias("waybill_key")
    )
    verdict = X.check_bills(bl, run.live_by_waybill(bl["waybill_key"].to_list()))
    judged = new.join(verdict, on="doc", how="left").with_columns(
        pl.col("ok").fill_null(False),
        pl.col("code").fill_null(X.BILL_UNKNOWN),
    )
    ok, _bad = run.settle(
        "masterbill",
        "CEB608Message",
        judged,
        fields,
        accepted=X.ACCEPTED,
        answer=X.ACCEPTED,
        info=pl.lit("总分单审核通过 / master/sub-bill accepted"),
    )
    run.counts["master_bills"] += ok.height
    if ok.height:
        insert_frame(
            run.conn,
            export_bill_line,
            bl.join(
                ok.select(
                    "doc",
                    pl.col("guid").alias("doc_guid"),
                    "billNo",
                    "voyageNo",
                    "trafName",
                    "trafMode",
                    "agentCode",
                ),
                on="doc",
            ).select(
                "doc_guid",
                pl.col("gnum").cast(pl.Int64),
                "waybill_key",
                pl.col("invtNo").alias("invt_no"),
                pl.col("billNo").alias("bill_no"),
                pl.col("voyageNo").alias("voyage_no"),
                pl.col("trafName").alias("traf_name"),
                pl.col("trafMode").alias("traf_mode"),
                pl.col("totalPackageNo").alias("total_package_no"),
                pl.col("agentCode").alias("agent_code"),
                pl.lit(run.at).dt.convert_time_zone("UTC").alias("at"),
            ),
            ignore_conflicts=True,
        )


# --- phase 3: cancellations (撤销) -------------------------------------------------------------
def _cancels(run: _Run, msgs: list[int]) -> None:
    heads = run.heads("CEB605Message", msgs)
    if heads.height == 0:
        return
    heads = heads.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo"),
        pl.int_range(pl.len()).alias("doc"),
    )
    heads = run.store_documents("x_cancel", heads, _key("invtNo", "guid"), X.WAITING)
    new = heads.filter(pl.col("outcome") == Outcome.NEW.value)
    if new.height == 0:
        return
    stored = run.lists_by("invt_no", new["invtNo"].to_list())
    verdict = X.check_cancels(new.select("doc", "invtNo", "ebcCode", "agentCode"), stored)
    # a second cancellation of the same list in this segment finds it cancelled by the first
    first = (
        verdict.filter(pl.col("ok")).unique("list_key", keep="first", maintain_order=True)["doc"].to_list()
    )
    verdict = verdict.with_columns(
        pl.when(pl.col("ok") & ~pl.col("doc").is_in(first))
        .then(pl.lit(X.CANCEL_STATUS))
        .otherwise(pl.col("code"))
        .alias("code"),
        pl.when(pl.col("ok") & ~pl.col("doc").is_in(first))
        .then(pl.lit("清单已撤销"))
        .otherwise(pl.col("reason_zh"))
        .alias("reason_zh"),
        pl.when(pl.col("ok") & ~pl.col("doc").is_in(first))
        .then(pl.lit("the list is cancelled already"))
        .otherwise(pl.col("reason_en"))
        .alias("reason_en"),
        (pl.col("ok") & pl.col("doc").is_in(first)).alias("ok"),
    )
    judged = new.join(verdict, on="doc")
    fields = (pl.col("sender").alias("recipient"), "guid", "agentCode", "copNo", "preNo", "invtNo")
    ok, bad = run.settle(
        "x_cancel",
        "CEB606Message",
        judged,
        fields,
        accepted=X.CONCLUDED,
        answer=X.ACCEPTED,
        info=pl.lit("海关入库 / accepted into customs' system"),
    )
    run.answer(
        "CEB606Message",
        ok.select(*fields, "reason_zh", "reason_en"),
        X.CONCLUDED,
        _info(None, pl.col("reason_zh"), pl.col("reason_en")),
        1,
    )
    run.counts["cancel_accepted"] += ok.height
    run.counts["cancel_refused"] += bad.height
    if ok.height:
        lists = stored.join(ok.select("list_key", "reason_zh", "reason_en"), on="list_key")
        run.move_lists(lists, X.REFUSED, cancelled_at=run.at)
        run.decide(lists, X.REFUSED, "export.cancel")
        run.list_receipt(
            lists,
            X.REFUSED,
            pl.lit("撤销申请审核通过，清单已撤销 / cancelled at the enterprise's request"),
            2,
        )
        for part in chunks(sorted(lists["list_key"].to_list())):
            run.conn.execute(export_refund_line.delete().where(export_refund_line.c.list_key.in_(part)))


# --- phase 4: departures (离境) ----------------------------------------------------------------
def _departures(run: _Run, msgs: list[int]) -> None:
    heads = run.heads("CEB509Message", msgs)
    lines = run.lines("CEB509Message", msgs)
    if heads.height == 0:
        return
    heads = heads.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo"),
        pl.int_range(pl.len()).alias("doc"),
    )
    heads = run.store_documents("departure", heads, _key("logisticsCode", "copNo", "msgSeqNo"), X.WAITING)
    fields = (pl.col("sender").alias("recipient"), "guid", "logisticsCode", "copNo", "preNo", "msgSeqNo")
    dup = heads.filter(pl.col("outcome").is_in([Outcome.DUPLICATE.value, Outcome.CONFLICT.value]))
    run.answer(
        "CEB510Message",
        dup.select(*fields),
        X.REFUSED,
        _info(
            pl.lit(X.DEPARTURE_NOT_RELEASED),
            pl.lit("离境单重复申报"),
            pl.lit("this departure was already declared"),
        ),
    )
    new = heads.filter(pl.col("outcome") == Outcome.NEW.value)
    if new.height == 0:
        return
    dl = lines.join(new.select("_msg", "_doc", "doc", "logisticsCode"), on=["_msg", "_doc"]).with_columns(
        _key("logisticsCode", "logisticsNo").alias("waybill_key")
    )
    live = run.live_by_waybill(dl["waybill_key"].to_list())
    verdict = X.check_departures(dl, live)
    # a parcel on two departures of this segment leaves with the first
    first_doc = (
        dl.join(verdict.filter(pl.col("ok")).select("doc"), on="doc")
        .group_by("waybill_key")
        .agg(pl.col("doc").min().alias("_first"))
    )
    twice = (
        dl.join(first_doc, on="waybill_key")
        .filter(pl.col("doc") != pl.col("_first"))["doc"]
        .unique()
        .to_list()
    )
    verdict = verdict.with_columns(
        pl.when(pl.col("doc").is_in(twice))
        .then(pl.lit(X.DEPARTURE_NOT_RELEASED))
        .otherwise(pl.col("code"))
        .alias("code"),
        pl.when(pl.col("doc").is_in(twice))
        .then(pl.lit("运单已在另一离境单上离境"))
        .otherwise(pl.col("reason_zh"))
        .alias("reason_zh"),
        pl.when(pl.col("doc").is_in(twice))
        .then(pl.lit("a parcel on it departed on another departure"))
        .otherwise(pl.col("reason_en"))
        .alias("reason_en"),
        (pl.col("ok") & ~pl.col("doc").is_in(twice)).alias("ok"),
    )
    judged = new.join(verdict, on="doc", how="left").with_columns(pl.col("ok").fill_null(False))
    ok, bad = run.settle(
        "departure",
        "CEB510Message",
        judged,
        fields,
        accepted=X.CONCLUDED,
        answer=X.CONCLUDED,
        info=pl.lit("离境单审核通过 / departure accepted"),
    )
    run.counts["departures"] += ok.height
    run.counts["departures_refused"] += bad.height
    if ok.height == 0:
        return
    gone = dl.join(
        ok.select("doc", pl.col("guid").alias("doc_guid"), "customsCode", "billNo", "leaveTime"), on="doc"
    )
    insert_frame(
        run.conn,
        export_movement,
        gone.join(live.select("waybill_key", "list_key"), on="waybill_key", how="left").select(
            pl.lit("departure").alias("kind"),
            "doc_guid",
            pl.col("gnum").cast(pl.Int64),
            "waybill_key",
            "list_key",
            pl.col("customsCode").alias("customs_code"),
            pl.col("billNo").alias("bill_no"),
            pl.col("leaveTime").dt.replace_time_zone("UTC").alias("at"),
            pl.lit(run.batch_id, pl.Int64).alias("batch_id"),
        ),
        ignore_conflicts=True,
    )
    cleared = live.join(gone.select("waybill_key", "leaveTime"), on="waybill_key")
    for (leave,), part in cleared.group_by(["leaveTime"]):
        run.move_lists(part, X.CLEARED, cleared_at=run.at, leave_time=L.aware_utc(leave) if leave else None)
    why = cleared.with_columns(
        pl.lit("已离境，结关").alias("reason_zh"), pl.lit("departed; cleared").alias("reason_en")
    )
    run.decide(why, X.CLEARED, "export.departure")
    run.list_receipt(why, X.CLEARED, pl.lit("已离境，结关 / departed; cleared"), 4)
    run.counts["cleared"] += cleared.height
    _provisional_refunds(run, cleared)


def _provisional_refunds(run: _Run, cleared: pl.DataFrame) -> None:
    """Flagged 9810 lines of lists that departed now get their provisional refund (离境即退税)."""
    keys = sorted(cleared["list_key"].to_list())
    for part in chunks(keys):
        rows = run.conn.execute(
            select(
                export_refund_line.c.list_key,
                export_refund_line.c.gnum,
                export_refund_line.c.value_fen,
                export_refund_line.c.refund_rate_bp,
            ).where(export_refund_line.c.list_key.in_(part), export_refund_line.c.status == "flagged")
        ).all()
        leave = dict(cleared.select("list_key", "leaveTime").iter_rows())
        for key, gnum, value, rate in rows:
            at = leave.get(key)
            run.conn.execute(
                update(export_refund_line)
                .where(export_refund_line.c.list_key == key, export_refund_line.c.gnum == gnum)
                .values(
                    provisional_fen=X.provisional_fen(int(value), int(rate)),
                    provisional_at=L.aware_utc(at) if at else run.at,
                    status="provisional",
                    updated_at=run.at,
                )
            )
            run.counts["provisional_refunds"] += 1
