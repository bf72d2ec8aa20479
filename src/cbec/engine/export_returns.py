"""Export-return clearing shell: CEB213 applications, CEB215 tallies and consolidated return master bills
(CEB607 whose lines name the original list), in the clearing batch's transaction.

:func:`process` is called by the clearing shell right after :func:`cbec.engine.export.process`, so a return
sees the export movements of the same batch.  Per batch, in this order:

1. **return master bills** (退货合包): a CEB607 whose every line carries ``invtNo`` (the export engine leaves
   those to this module) — each parcel must name a released export list; the lines are recorded so a site
   can see which parcels of the master bill are tallied (CEB608 120 / 100);
2. **applications** (CEB213 → CEB214): judged by :func:`cbec.rules.export_returns.check_applications`
   against the stored export lists, their lines (decoded again from the inbox: the record) and what earlier
   accepted applications took; accepted → 120, refused → 100 with code and reason;
3. **tallies** (CEB215 → CEB216): stored per parcel; a tally waits (2) until an application for its waybill
   is accepted;
4. **settling**: each waiting tally whose waybill has accepted applications is judged
   (:func:`cbec.rules.export_returns.check_tallies`, the site registry for cross-district returns): tallied
   (216 399) and its applications released (214 800) with the tax outcome of each line
   (:func:`cbec.rules.export_returns.tax_outcome`) and, for 9810 lines pre-refunded at departure (HWC-YT),
   the repayment recorded through :func:`cbec.engine.prerefund.record` (its ``event_id`` keeps a replay
   from repaying twice).

Idempotent: documents are keyed by guid (a repeat changes nothing and is not answered again); every decision
depends only on the store, so replaying the inbox gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import polars as pl
from sqlalchemy import Connection, bindparam, func, select, update

from cbec.engine import lists as L
from cbec.engine import prerefund
from cbec.engine.export import (
    BILL_RECEIPT_FIELDS,
    _decoded,
    _info,
    _key,
    _Run,
    new_master_bills,
    return_bill_messages,
)
from cbec.messages.columns import ColumnBatch
from cbec.params.dated import ParameterSet
from cbec.rules import export_returns as R
from cbec.store import outbox as outbox_repo
from cbec.store._common import Outcome, chunks
from cbec.store.bulk import insert_frame
from cbec.store.schema import (
    export_list,
    export_refund_line,
    export_return,
    export_return_bill_line,
    export_return_line,
    export_return_site,
    export_return_tally,
)

RETURN_TYPES = frozenset({"CEB213Message", "CEB215Message", "CEB607Message"})
REFUND_NOTE = (
    "如已办理出口退税，须补缴已退税款（凭税务机关《出口货物已补税/未退税证明》办理免税） / any export VAT "
    "refund obtained must be repaid (the exemption needs the tax authority's certificate)"
)


def _table(run: _Run, mtype: str, entity: str, msgs: Sequence[int], *, head: bool = True) -> pl.DataFrame:
    table = run.batch.tables.get((mtype, entity))
    if table is None or table.height == 0 or not msgs:
        return pl.DataFrame()
    senders = run.batch.messages.select("_msg", pl.col("copCode").fill_null("unknown").alias("sender"))
    frame = table.filter(pl.col("_msg").is_in(list(msgs)))
    if head:
        frame = frame.join(senders, on="_msg", how="left")
    return frame.sort(*[c for c in ("_msg", "_doc", "_line") if c in frame.columns])


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
    """Clear the export-return messages among ``indices``; returns the receipts to queue and counts."""
    types = batch.messages["message_type"]
    idx = sorted(set(indices))
    bills = sorted(return_bill_messages(batch, [i for i in idx if types[i] == "CEB607Message"]))
    apps = [i for i in idx if types[i] == "CEB213Message"]
    tallies = [i for i in idx if types[i] == "CEB215Message"]
    if not (bills or apps or tallies):
        return [], {}
    run = _Run(conn, batch, now, params, hs, inbox_ids, batch_id)
    p = R.ReturnParams.at(params, run.naive.date())
    waybills: set[str] = set()
    if bills:
        _bills(run, bills, p)
    if apps:
        waybills |= _applications(run, apps, p)
    if tallies:
        waybills |= _tallies(run, tallies)
    if waybills:
        _settle(run, sorted(waybills), p)
    return run.encoded(), {k: v for k, v in run.counts.items() if v}


# --- consolidated return master bills (退货合包, CEB607 with line invtNo) ---------------------------
def _bills(run: _Run, msgs: list[int], p: R.ReturnParams) -> None:
    heads = _table(run, "CEB607Message", "WayBillHead", msgs)
    lines = _table(run, "CEB607Message", "WayBillList", msgs, head=False)
    if heads.height == 0:
        return
    new = new_master_bills(run, heads, "x_return_bill", R.BILL_RETURN_LIST)
    fields = BILL_RECEIPT_FIELDS
    if new.height == 0:
        return
    bl = lines.join(new.select("_msg", "_doc", "doc", "logisticsCode"), on=["_msg", "_doc"]).with_columns(
        _key("logisticsCode", "logisticsNo").alias("waybill_key"), pl.col("invtNo").cast(pl.String)
    )
    lists = _lists(run, bl["invtNo"].to_list())
    judged = new.join(R.bill_lines_verdict(bl, lists, p), on="doc", how="left").with_columns(
        pl.col("ok").fill_null(False), pl.col("code").fill_null(R.BILL_RETURN_LIST)
    )
    ok, bad = run.settle(
        "x_return_bill",
        "CEB608Message",
        judged,
        fields,
        accepted=R.ACCEPTED,
        answer=R.ACCEPTED,
        info=pl.lit("退货合包总分单审核通过 / consolidated return master bill accepted"),
    )
    run.counts["return_bills"] += ok.height
    run.counts["return_bills_refused"] += bad.height
    if ok.height:
        insert_frame(
            run.conn,
            export_return_bill_line,
            bl.join(ok.select("doc", pl.col("guid").alias("doc_guid"), "billNo"), on="doc").select(
                "doc_guid",
                pl.col("gnum").cast(pl.Int64),
                pl.col("billNo").alias("bill_no"),
                "waybill_key",
                pl.col("invtNo").alias("invt_no"),
                pl.col("totalPackageNo").alias("total_package_no"),
                pl.lit(run.at).dt.convert_time_zone("UTC").alias("at"),
            ),
            ignore_conflicts=True,
        )


def _lists(run: _Run, invt_nos: Iterable[str]) -> pl.DataFrame:
    """The export lists named (invt_no, list_key, guid, inbox_id, status, trade_mode, customs_code, ebp_code,
    ebc_code, released_at, leave_time — naive UTC)."""
    cols = [
        export_list.c.invt_no,
        export_list.c.list_key,
        export_list.c.guid,
        export_list.c.inbox_id,
        export_list.c.status,
        export_list.c.trade_mode,
        export_list.c.customs_code,
        export_list.c.ebp_code,
        export_list.c.ebc_code,
        export_list.c.released_at,
        export_list.c.leave_time,
    ]
    rows: list[tuple[object, ...]] = []
    for part in chunks(sorted({v for v in invt_nos if v})):
        rows += [tuple(r) for r in run.conn.execute(select(*cols).where(export_list.c.invt_no.in_(part)))]
    schema = {
        "invt_no": pl.String(),
        "list_key": pl.String(),
        "guid": pl.String(),
        "inbox_id": pl.Int64(),
        "status": pl.Int64(),
        "trade_mode": pl.String(),
        "customs_code": pl.String(),
        "ebp_code": pl.String(),
        "ebc_code": pl.String(),
        "released_at": pl.Datetime("us"),
        "leave_time": pl.Datetime("us"),
    }
    clean = [
        tuple(L.naive_utc(v) if isinstance(v, datetime) else v for v in r)  # type: ignore[arg-type]
        for r in rows
    ]
    return pl.DataFrame(clean, schema=schema, orient="row")


def _original_lines(run: _Run, lists: pl.DataFrame) -> pl.DataFrame:
    """The lines of the original CEB603 lists, decoded again from their inbox messages (the record)."""
    schema = {
        "invt_no": pl.String(),
        "gnum": pl.Int64(),
        "gcode": pl.String(),
        "unit": pl.String(),
        "qty_e5": pl.Int64(),
        "qty1_e5": pl.Int64(),
        "qty2_e5": pl.Int64(),
    }
    if lists.height == 0:
        return pl.DataFrame(schema=schema)
    _heads, lines = _decoded(run, lists["inbox_id"].to_list(), "CEB603Message", lists["guid"].to_list())
    if lines.height == 0:
        return pl.DataFrame(schema=schema)
    return lines.join(lists.select("guid", "invt_no"), on="guid").select(
        "invt_no",
        pl.col("gnum").cast(pl.Int64),
        pl.col("gcode").cast(pl.String),
        pl.col("unit").cast(pl.String),
        R.to_e5(pl.col("qty")).alias("qty_e5"),
        R.to_e5(pl.col("qty1")).alias("qty1_e5"),
        (R.to_e5(pl.col("qty2")) if "qty2" in lines.columns else pl.lit(None, pl.Int64)).alias("qty2_e5"),
    )


def _returned(run: _Run, invt_nos: Iterable[str]) -> pl.DataFrame:
    """What accepted (120) and released (800) applications took, per original list line."""
    rows: list[tuple[object, ...]] = []
    for part in chunks(sorted(set(invt_nos))):
        rows += [
            tuple(r)
            for r in run.conn.execute(
                select(
                    export_return_line.c.invt_no,
                    export_return_line.c.gnum,
                    func.sum(export_return_line.c.qty_e5),
                    func.sum(export_return_line.c.qty1_e5),
                    func.sum(export_return_line.c.qty2_e5),
                )
                .where(export_return_line.c.invt_no.in_(part))
                .group_by(export_return_line.c.invt_no, export_return_line.c.gnum)
            )
        ]
    return pl.DataFrame(
        [(a, int(b), int(c or 0), int(d or 0), int(e or 0)) for a, b, c, d, e in rows],  # type: ignore[call-overload]
        schema={
            "invt_no": pl.String(),
            "gnum": pl.Int64(),
            "qty_e5": pl.Int64(),
            "qty1_e5": pl.Int64(),
            "qty2_e5": pl.Int64(),
        },
        orient="row",
    )


# --- applications (CEB213 → CEB214) --------------------------------------------------------------
def _app_fields(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("sender").alias("recipient"),
        pl.col("invtNo").alias("list_key"),
        "guid",
        "ebpCode",
        "ebcCode",
        "agentCode",
        "coElNo",
        "preNo",
        "invtNo",
    )


def _applications(run: _Run, msgs: list[int], p: R.ReturnParams) -> set[str]:
    heads = _table(run, "CEB213Message", "InvtRefundHead", msgs)
    lines = _table(run, "CEB213Message", "InvtRefundList", msgs, head=False)
    if heads.height == 0:
        return set()
    heads = heads.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo"),
        pl.int_range(pl.len()).alias("doc"),
        _key("logisticsCode", "logisticsNo").alias("waybill_key"),
        pl.col("invtNo").cast(pl.String),
    )
    heads = run.store_documents("x_return", heads, _key("agentCode", "coElNo"), R.WAITING)
    dup = heads.filter(pl.col("outcome").is_in([Outcome.DUPLICATE.value, Outcome.CONFLICT.value]))
    run.answer(
        "CEB214Message",
        _app_fields(dup),
        R.REFUSED,
        _info(
            pl.lit(R.RETURN_DUPLICATE),
            pl.format("企业内部编号{}的退货申请单已申报", "coElNo"),
            pl.format("a return application with coElNo {} was already declared", "coElNo"),
        ),
    )
    run.counts["returns_duplicate"] += dup.height
    new = heads.filter(pl.col("outcome") == Outcome.NEW.value)
    if new.height == 0:
        return set()
    lists = _lists(run, new["invtNo"].to_list())
    orig_lines = _original_lines(run, lists)
    app_lines = (
        lines.join(new.select("_msg", "_doc", "doc"), on=["_msg", "_doc"])
        if lines.height
        else pl.DataFrame(
            schema={"doc": pl.Int64(), "gnum": pl.Int64(), "gcode": pl.String(), "unit": pl.String()}
        )
    )
    for col in ("qty", "qty1", "qty2"):
        if col not in app_lines.columns:
            app_lines = app_lines.with_columns(pl.lit(None, pl.Decimal(19, 5)).alias(col))
    verdict, accepted = R.check_applications(
        new.select("doc", "invtNo", "ebpCode", "ebcCode", "appType", "ieFlag", "country", "customsCode"),
        app_lines,
        lists,
        orig_lines,
        _returned(run, new["invtNo"].to_list()),
        p,
        run.naive,
    )
    judged = new.join(verdict, on="doc", how="left").join(
        lists.select(
            pl.col("invt_no").alias("invtNo"),
            pl.col("list_key").alias("orig_list_key"),
            pl.col("customs_code").alias("export_customs"),
        ),
        on="invtNo",
        how="left",
    )
    judged = judged.with_columns(
        pl.when(pl.col("ok"))
        .then(
            pl.when(pl.col("cross_district"))
            .then(pl.lit("跨关区退货申请审核通过，待退货商品理货"))
            .otherwise(pl.lit("退货申请审核通过，待退货商品理货"))
        )
        .otherwise(pl.col("reason_zh"))
        .alias("reason_zh"),
        pl.when(pl.col("ok"))
        .then(
            pl.when(pl.col("cross_district"))
            .then(pl.lit("cross-district return accepted; waiting for the goods to be tallied"))
            .otherwise(pl.lit("return accepted; waiting for the goods to be tallied"))
        )
        .otherwise(pl.col("reason_en"))
        .alias("reason_en"),
    )
    ok, bad = judged.filter(pl.col("ok")), judged.filter(~pl.col("ok"))
    insert_frame(
        run.conn,
        export_return,
        judged.select(
            "guid",
            pl.col("invtNo").fill_null("").alias("invt_no"),
            pl.col("coElNo").alias("co_el_no"),
            pl.col("ebcCode").alias("ebc_code"),
            pl.col("agentCode").alias("agent_code"),
            "sender",
            "waybill_key",
            pl.col("billNo").alias("bill_no"),
            pl.col("customsCode").alias("customs_code"),
            pl.col("portCode").alias("port_code"),
            "export_customs",
            "trade_mode",
            pl.col("cross_district").fill_null(False),
            pl.when(pl.col("ok")).then(pl.lit(R.ACCEPTED)).otherwise(pl.lit(R.REFUSED)).alias("status"),
            "code",
            "reason_zh",
            "reason_en",
            pl.col("_msg").replace_strict(dict(run.inbox_ids), return_dtype=pl.Int64).alias("inbox_id"),
            pl.lit(run.at).dt.convert_time_zone("UTC").alias("declared_at"),
            pl.lit(run.batch_id, pl.Int64).alias("batch_id"),
        ),
    )
    if accepted.height:
        insert_frame(
            run.conn,
            export_return_line,
            accepted.join(ok.select("doc", pl.col("guid").alias("return_guid")), on="doc").select(
                "return_guid",
                "gnum",
                "invt_no",
                "gcode",
                "qty_e5",
                "qty1_e5",
                "qty2_e5",
                pl.col("exported_e5").fill_null(0),
            ),
        )
    run.set_document_status("x_return", bad["guid"].to_list(), R.REFUSED)
    run.set_document_status("x_return", ok["guid"].to_list(), R.ACCEPTED)
    run.answer(
        "CEB214Message",
        _app_fields(bad).with_columns(bad.select("code", "reason_zh", "reason_en")),
        R.REFUSED,
        _info(pl.col("code"), pl.col("reason_zh"), pl.col("reason_en")),
    )
    run.answer(
        "CEB214Message",
        _app_fields(ok).with_columns(ok.select("reason_zh", "reason_en")),
        R.ACCEPTED,
        _info(None, pl.col("reason_zh"), pl.col("reason_en")),
    )
    known = judged.filter(pl.col("orig_list_key").is_not_null())
    run.decide(
        known.select(
            pl.col("orig_list_key").alias("list_key"),
            pl.col("invtNo").alias("invt_no"),
            "code",
            pl.format("退货申请{}：{}", "coElNo", "reason_zh").alias("reason_zh"),
            pl.format("return application {}: {}", "coElNo", "reason_en").alias("reason_en"),
            pl.when(pl.col("ok")).then(pl.lit(R.ACCEPTED)).otherwise(pl.lit(R.REFUSED)).alias("_status"),
        ),
        pl.col("_status"),
        pl.lit("export.return"),
    )
    run.counts["returns_accepted"] += ok.height
    run.counts["returns_cross_district"] += ok.filter(pl.col("cross_district")).height
    for rule, code, n in bad.group_by("rule", "code").len().iter_rows():
        run.counts[f"return refused {rule} {code}"] += int(n)
    return set(ok["waybill_key"].to_list())


# --- tallies (CEB215 → CEB216) --------------------------------------------------------------------
def _tally_fields(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("sender").alias("recipient"),
        pl.col("waybill_key").alias("list_key"),
        "guid",
        "operatorCode",
        "logisticsCode",
        "logisticsNo",
        "coElNo",
        "preNo",
    )


def _tallies(run: _Run, msgs: list[int]) -> set[str]:
    heads = _table(run, "CEB215Message", "InvtRefundDetail", msgs)
    if heads.height == 0:
        return set()
    heads = heads.with_columns(
        pl.coalesce(pl.col("preNo"), L.pre_no(pl.col("guid"), pl.col("appTime"))).alias("preNo"),
        _key("logisticsCode", "logisticsNo").alias("waybill_key"),
    )
    heads = run.store_documents(
        "x_tally", heads, _key("operatorCode", "logisticsCode", "logisticsNo"), R.WAITING
    )
    dup = heads.filter(pl.col("outcome").is_in([Outcome.DUPLICATE.value, Outcome.CONFLICT.value]))
    run.answer(
        "CEB216Message",
        _tally_fields(dup),
        R.REFUSED,
        _info(
            pl.lit(R.TALLY_DUPLICATE),
            pl.format("运单{}已理货", "logisticsNo"),
            pl.format("parcel {} was tallied already", "logisticsNo"),
        ),
    )
    new = heads.filter(pl.col("outcome") == Outcome.NEW.value)
    if new.height == 0:
        return set()
    wrong = (pl.col("appType").cast(pl.String) != "1") | (pl.col("ieFlag") != "I")
    new = new.with_columns(
        wrong.alias("_bad"),
        pl.when(wrong).then(pl.lit(R.TALLY_FIELDS)).otherwise(None).alias("code"),
        pl.when(wrong)
        .then(pl.lit("理货明细单须为新增（appType=1），ieFlag为I"))
        .otherwise(pl.lit("理货明细已接收，等待退货申请"))
        .alias("reason_zh"),
        pl.when(wrong)
        .then(pl.lit("a tally must be new (appType 1) with ieFlag I"))
        .otherwise(pl.lit("tally received; waiting for the parcel's return application"))
        .alias("reason_en"),
    )
    insert_frame(
        run.conn,
        export_return_tally,
        new.select(
            "guid",
            "waybill_key",
            pl.col("invtNo").cast(pl.String).alias("invt_no"),
            pl.col("billNo").alias("bill_no"),
            pl.col("customsCode").alias("customs_code"),
            pl.col("operatorCode").alias("operator_code"),
            pl.col("coElNo").alias("co_el_no"),
            pl.col("preNo").alias("pre_no"),
            pl.col("location").str.slice(0, 250)
            if "location" in new.columns
            else pl.lit(None, pl.String).alias("location"),
            "sender",
            pl.when(pl.col("_bad")).then(pl.lit(R.REFUSED)).otherwise(pl.lit(R.WAITING)).alias("status"),
            "code",
            "reason_zh",
            "reason_en",
            pl.lit(run.at).dt.convert_time_zone("UTC").alias("received_at"),
        ),
    )
    bad = new.filter(pl.col("_bad"))
    run.set_document_status("x_tally", bad["guid"].to_list(), R.REFUSED)
    run.answer(
        "CEB216Message",
        _tally_fields(bad).with_columns(bad.select("code", "reason_zh", "reason_en")),
        R.REFUSED,
        _info(pl.col("code"), pl.col("reason_zh"), pl.col("reason_en")),
    )
    run.counts["tallies"] += new.height - bad.height
    return set(new.filter(~pl.col("_bad"))["waybill_key"].to_list())


# --- settling: tallies meet their applications ----------------------------------------------------
def _settle(run: _Run, waybills: Sequence[str], p: R.ReturnParams) -> None:
    """Judge the tallies of these parcels against their accepted applications.  A waiting tally becomes
    399 or 100; a parcel tallied before (399) releases an application accepted after its tally, since the
    goods are at the site already (its tally is not answered again)."""
    conn = run.conn
    t_rows: list[tuple[object, ...]] = []
    a_rows: list[tuple[object, ...]] = []
    for part in chunks(list(waybills)):
        t_rows += [
            tuple(r)
            for r in conn.execute(
                select(
                    export_return_tally.c.id,
                    export_return_tally.c.guid,
                    export_return_tally.c.waybill_key,
                    export_return_tally.c.customs_code,
                    export_return_tally.c.operator_code,
                    export_return_tally.c.invt_no,
                    export_return_tally.c.co_el_no,
                    export_return_tally.c.pre_no,
                    export_return_tally.c.sender,
                    export_return_tally.c.status,
                ).where(
                    export_return_tally.c.waybill_key.in_(part),
                    export_return_tally.c.status.in_([R.WAITING, R.TALLIED]),
                )
            )
        ]
        a_rows += [
            tuple(r)
            for r in conn.execute(
                select(
                    export_return.c.guid,
                    export_return.c.waybill_key,
                    export_return.c.invt_no,
                    export_return.c.customs_code,
                    export_return.c.cross_district,
                ).where(export_return.c.waybill_key.in_(part), export_return.c.status == R.ACCEPTED)
            )
        ]
    tallies = pl.DataFrame(
        t_rows,
        schema={
            "tally_id": pl.Int64(),
            "guid": pl.String(),
            "waybill_key": pl.String(),
            "customs_code": pl.String(),
            "operator_code": pl.String(),
            "invt_no": pl.String(),
            "co_el_no": pl.String(),
            "pre_no": pl.String(),
            "sender": pl.String(),
            "status": pl.Int64(),
        },
        orient="row",
    )
    apps = pl.DataFrame(
        a_rows,
        schema={
            "app_guid": pl.String(),
            "waybill_key": pl.String(),
            "invt_no": pl.String(),
            "customs_code": pl.String(),
            "cross_district": pl.Boolean(),
        },
        orient="row",
    )
    verdict = R.check_tallies(
        tallies.select("tally_id", "waybill_key", "customs_code", "operator_code", "invt_no"),
        apps,
        _sites(conn),
        p,
        run.naive.date(),
    )
    judged = tallies.join(verdict, on="tally_id", how="left")
    _ack_waiting(run, judged.filter(pl.col("ok").is_null() & (pl.col("status") == R.WAITING)))
    waiting = judged.filter(pl.col("status") == R.WAITING)
    for want, status in ((True, R.TALLIED), (False, R.REFUSED)):
        group = waiting.filter(pl.col("ok") == want)
        if group.height == 0:
            continue
        conn.execute(
            update(export_return_tally)
            .where(export_return_tally.c.id == bindparam("_id"))
            .values(
                status=status,
                code=bindparam("_code"),
                reason_zh=bindparam("_zh"),
                reason_en=bindparam("_en"),
                tallied_at=run.at if want else None,
            ),
            [
                {"_id": r["tally_id"], "_code": r["code"], "_zh": r["reason_zh"], "_en": r["reason_en"]}
                for r in group.select("tally_id", "code", "reason_zh", "reason_en").iter_rows(named=True)
            ],
        )
        run.set_document_status("x_tally", group["guid"].to_list(), status)
        run.answer(
            "CEB216Message",
            _tally_receipt(group).with_columns(group.select("code", "reason_zh", "reason_en")),
            status,
            _info(pl.col("code"), pl.col("reason_zh"), pl.col("reason_en")),
            1,
        )
        run.counts["tallies_matched" if want else "tallies_refused"] += group.height
    released = sorted(
        {g for gs in judged.filter(pl.col("ok").fill_null(False))["app_guids"].to_list() for g in gs}
    )
    if released:
        _release(run, released, p)


def _tally_receipt(frame: pl.DataFrame) -> pl.DataFrame:
    """CEB216 fields of stored tallies (the waybill key is ``logisticsCode|logisticsNo``)."""
    parts = pl.col("waybill_key").str.split_exact("|", 1)
    return frame.select(
        pl.col("sender").alias("recipient"),
        pl.col("waybill_key").alias("list_key"),
        "guid",
        pl.col("operator_code").alias("operatorCode"),
        parts.struct.field("field_0").alias("logisticsCode"),
        parts.struct.field("field_1").alias("logisticsNo"),
        pl.col("co_el_no").alias("coElNo"),
        pl.col("pre_no").alias("preNo"),
    )


def _ack_waiting(run: _Run, frame: pl.DataFrame) -> None:
    """Tallies received now without an accepted application: 216 status 2 (once, when first received)."""
    fresh = frame.filter(pl.col("guid").is_in(_new_tally_guids(run)))
    run.answer(
        "CEB216Message",
        _tally_receipt(fresh),
        R.WAITING,
        pl.lit("理货明细已接收，等待退货申请 / tally received; waiting for the parcel's return application"),
    )


def _new_tally_guids(run: _Run) -> list[str]:
    table = run.batch.tables.get(("CEB215Message", "InvtRefundDetail"))
    return [] if table is None else table["guid"].cast(pl.String).to_list()


def _sites(conn: Connection) -> pl.DataFrame:
    rows = conn.execute(
        select(
            export_return_site.c.customs_code,
            export_return_site.c.operator_code,
            export_return_site.c.cbec_export,
            export_return_site.c.return_area,
            export_return_site.c.data_open,
            export_return_site.c.valid_from,
            export_return_site.c.valid_to,
        )
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customs_code": pl.String(),
            "operator_code": pl.String(),
            "cbec_export": pl.Boolean(),
            "return_area": pl.Boolean(),
            "data_open": pl.Boolean(),
            "valid_from": pl.Date(),
            "valid_to": pl.Date(),
        },
        orient="row",
    )


def _release(run: _Run, guids: list[str], p: R.ReturnParams) -> None:
    """Applications whose parcel is tallied: released (800), each line's tax outcome recorded."""
    conn = run.conn
    apps = []
    for part in chunks(guids):
        apps += [
            r._asdict()
            for r in conn.execute(
                select(
                    export_return.c.guid,
                    export_return.c.invt_no,
                    export_return.c.co_el_no,
                    export_return.c.ebc_code,
                    export_return.c.agent_code,
                    export_return.c.sender,
                ).where(export_return.c.guid.in_(part))
            )
        ]
        conn.execute(
            update(export_return)
            .where(export_return.c.guid.in_(part), export_return.c.status == R.ACCEPTED)
            .values(status=R.RELEASED, released_at=run.at)
        )
    run.set_document_status("x_return", guids, R.RELEASED)
    frame = pl.DataFrame(apps)
    lists = _lists(run, frame["invt_no"].to_list())
    line_rows = []
    for part in chunks(guids):
        line_rows += [
            r._asdict()
            for r in conn.execute(
                select(
                    export_return_line.c.return_guid,
                    export_return_line.c.gnum,
                    export_return_line.c.invt_no,
                    export_return_line.c.gcode,
                    export_return_line.c.qty_e5,
                ).where(export_return_line.c.return_guid.in_(part))
            )
        ]
    lines = pl.DataFrame(
        line_rows,
        schema={
            "return_guid": pl.String(),
            "gnum": pl.Int64(),
            "invt_no": pl.String(),
            "gcode": pl.String(),
            "qty_e5": pl.Int64(),
        },
    ).join(
        lists.select(
            "invt_no",
            "trade_mode",
            pl.coalesce("leave_time", "released_at").dt.date().alias("export_date"),
        ),
        on="invt_no",
        how="left",
    )
    taxed = R.tax_outcome(lines, p, run.naive.date())
    refunded = _repay_prerefunds(run, taxed, dict(zip(frame["guid"], frame["sender"], strict=True)))
    if refunded.height:
        conn.execute(
            update(export_return_line)
            .where(
                export_return_line.c.return_guid == bindparam("_guid"),
                export_return_line.c.gnum == bindparam("_gnum"),
            )
            .values(
                tax_exempt=bindparam("_exempt"),
                tax_basis=bindparam("_basis"),
                tax_source=bindparam("_source"),
                tax_reason_zh=bindparam("_zh"),
                tax_reason_en=bindparam("_en"),
                refund_repay_fen=bindparam("_repay"),
                refund_note=bindparam("_note"),
            ),
            [
                {
                    "_guid": r["return_guid"],
                    "_gnum": r["gnum"],
                    "_exempt": r["tax_exempt"],
                    "_basis": r["tax_basis"],
                    "_source": (str(r["tax_source"])[:200] or None) if r["tax_source"] else None,
                    "_zh": r["tax_reason_zh"],
                    "_en": r["tax_reason_en"],
                    "_repay": r["repay_fen"],
                    "_note": r["refund_note"],
                }
                for r in refunded.iter_rows(named=True)
            ],
        )
    summary = refunded.group_by("return_guid").agg(
        pl.col("tax_exempt").sum().alias("_ex"),
        pl.len().alias("_n"),
        pl.col("repay_fen").sum().alias("_repay"),
    )
    out = frame.join(summary, left_on="guid", right_on="return_guid", how="left").with_columns(
        pl.format(
            "退货商品已理货，海关放行；{}项免征进口税，{}项照章征税{} / "
            "goods tallied and released; {} line(s) "
            "exempt from import taxes, {} taxed as usual{}",
            pl.col("_ex"),
            pl.col("_n") - pl.col("_ex"),
            pl.when(pl.col("_repay") > 0)
            .then(pl.format("；须退还海外仓预退税款{}分", "_repay"))
            .otherwise(pl.lit("")),
            pl.col("_ex"),
            pl.col("_n") - pl.col("_ex"),
            pl.when(pl.col("_repay") > 0)
            .then(pl.format("; pre-refund to repay: {} fen", "_repay"))
            .otherwise(pl.lit("")),
        ).alias("info")
    )
    run.answer(
        "CEB214Message",
        out.select(
            pl.col("sender").alias("recipient"),
            pl.col("invt_no").alias("list_key"),
            "guid",
            pl.col("ebc_code").alias("ebcCode"),
            pl.col("agent_code").alias("agentCode"),
            pl.col("co_el_no").alias("coElNo"),
            pl.col("invt_no").alias("invtNo"),
            "info",
        ),
        R.RELEASED,
        pl.col("info"),
        2,
    )
    known = out.join(lists.select("invt_no", "list_key"), on="invt_no", how="inner")
    run.decide(
        known.select(
            "list_key",
            "invt_no",
            pl.lit(None, pl.String).alias("code"),
            pl.format("退货申请{}：{}", "co_el_no", pl.col("info").str.split(" / ").list.first()).alias(
                "reason_zh"
            ),
            pl.format(
                "return application {}: {}", "co_el_no", pl.col("info").str.split(" / ").list.last()
            ).alias("reason_en"),
        ),
        R.RELEASED,
        "export.return.release",
    )
    run.counts["returns_released"] += len(guids)
    run.counts["return_lines_exempt"] += int(refunded["tax_exempt"].sum())


def _repay_prerefunds(run: _Run, lines: pl.DataFrame, senders: Mapping[str, str]) -> pl.DataFrame:
    """Lines of 9810 lists pre-refunded at departure (HWC-YT) repay their share through the true-up."""
    keys = sorted(set(lines["invt_no"].to_list()))
    provisional: set[tuple[str, int]] = set()
    for part in chunks(keys):
        provisional |= {
            (str(a), int(b))
            for a, b in run.conn.execute(
                select(export_refund_line.c.invt_no, export_refund_line.c.gnum).where(
                    export_refund_line.c.invt_no.in_(part), export_refund_line.c.status == "provisional"
                )
            )
        }
    repay: dict[tuple[str, int], tuple[int | None, str]] = {}
    for row in lines.iter_rows(named=True):
        key = (row["invt_no"], int(row["gnum"]))
        if key not in provisional:
            continue
        try:
            result = prerefund.record(
                run.conn,
                event_id=f"R{row['return_guid'][:50]}:{row['gnum']}",
                invt_no=row["invt_no"],
                gnum=int(row["gnum"]),
                kind="returned",
                qty=Decimal(int(row["qty_e5"])) / R.E5,
                by=senders.get(row["return_guid"], "cbec"),
                at=run.at,
            )
            repay[(row["return_guid"], key[1])] = (
                result.repay_fen,
                f"海外仓预退税款须退还{result.repay_fen}分 / pre-refund repaid: {result.repay_fen} fen",
            )
        except prerefund.TrueUpError as err:
            repay[(row["return_guid"], key[1])] = (None, f"{err.zh} / {err.en}")
    found = pl.DataFrame(
        [(g, n, fen, note) for (g, n), (fen, note) in repay.items()],
        schema={
            "return_guid": pl.String(),
            "gnum": pl.Int64(),
            "repay_fen": pl.Int64(),
            "refund_note": pl.String(),
        },
        orient="row",
    )
    return lines.join(found, on=["return_guid", "gnum"], how="left").with_columns(
        pl.col("refund_note").fill_null(REFUND_NOTE)
    )
