"""One clearance step: a batch of new documents plus the current state in, decisions and state changes out.

This is the functional core of import clearance.  It touches no database and no file: the shell loads the
state it needs (documents still waiting, business keys already declared, the buyers' used quota), calls
:func:`run_step`, and commits what comes back in one transaction.  Every rule inside is a Polars expression
over whole columns, so one parcel and a million go through the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import polars as pl

from cbec.engine.buyer_key import buyer_keys
from cbec.engine.normalize import Documents
from cbec.params.dated import ParameterSet
from cbec.rules import decide as D
from cbec.rules import ledger as ledger_rule
from cbec.rules.matching import VIOLATION_SCHEMA, MatchingTolerance, check_sets, link_sets
from cbec.rules.quota import admit
from cbec.rules.risk import select
from cbec.rules.validation import validate_lists, validate_payments

# kind -> (business key column, duplicate code, Chinese, English)
DUPLICATE_CODES = {
    "orders": (
        "order_key",
        "-301010",
        "已存在相同编号的订单",
        "an order with the same number already exists",
    ),
    "payments": (
        "order_key",
        "-401007",
        "已存在相同编号的支付单",
        "a payment with the same number already exists",
    ),
    "waybills": (
        "waybill_key",
        "-504015",
        "已存在相同编号的运单",
        "a waybill with the same number already exists",
    ),
    "lists": (
        "list_key",
        "-621004",
        "该订单的清单已经申报过，请勿重复申报",
        "a list has already been declared for this order",
    ),
}
RECEIPT_SCHEMA = pl.Schema(
    {
        "kind": pl.String(),
        "guid": pl.String(),
        "business_key": pl.String(),
        "sender": pl.String(),
        "status": pl.Int32(),
        "code": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
        "step": pl.Int32(),  # order of the receipts one document gets in one go (120, then 399, then 800)
    }
)

TaxFn = Callable[[pl.DataFrame, pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]]


@dataclass
class StepState:
    """What the shell loads before a step."""

    waiting: Documents
    existing_keys: dict[str, set[str]] = field(default_factory=dict)  # kind -> business keys already stored
    quota_used: pl.DataFrame | None = None  # buyer_key, year, used (Decimal)
    buyer_secret: bytes = b"cbec-test-secret-not-for-production"  # HMAC key for the buyer key
    next_invt_seq: int = 1
    ledger_ems: frozenset[str] = frozenset()
    """emsNo of the bonded ledgers filed in cbec that the batch's 1210 lists name (cbec.engine.ledger)."""
    ledger_balances: pl.DataFrame | None = None  # ems_no, item_record_no, unit1, balance (1/100000)


@dataclass
class StepResult:
    decisions: pl.DataFrame  # one row per list decided or still waiting
    receipts: pl.DataFrame  # order/payment/waybill/list receipts to emit (RECEIPT_SCHEMA + extras)
    waiting: Documents  # documents to keep waiting
    quota_movements: pl.DataFrame  # buyer_key, year, list_key, amount
    tax_lines: pl.DataFrame
    tax_lists: pl.DataFrame
    released_lines: pl.DataFrame = field(default_factory=pl.DataFrame)
    next_invt_seq: int = 1
    ledger_writeoffs: pl.DataFrame = field(default_factory=ledger_rule.empty_demand)
    """Lines of released 1210 lists to write off their ledgers (cbec.rules.ledger.DEMAND_SCHEMA)."""
    ledger_holds: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ledger_rule.HOLD_SCHEMA))
    """Lines of 1210 lists held at 399 because their ledger cannot cover them, with the reason."""


def _dedupe(new: Documents, existing: dict[str, set[str]]) -> tuple[Documents, pl.DataFrame]:
    """Drop repeated guids silently (idempotent) and refuse clashing business keys with the spec's codes."""
    refusals = []
    frames = {}
    dropped: set[str] = set()
    for kind in ("orders", "payments", "waybills", "lists"):
        frame: pl.DataFrame = getattr(new, kind)
        if frame.height == 0:
            frames[kind] = frame
            continue
        key, code, zh, en = DUPLICATE_CODES[kind]
        if not frame["seq"].is_sorted():
            frame = frame.sort("seq")
        known = existing.get(kind, set())
        # in arrival order: a guid seen before is a repeat (dropped silently); among the rest, a business
        # key seen before, or already stored, is a duplicate declaration (refused)
        repeat = ~pl.col("guid").is_first_distinct()
        clash = ~repeat & ~pl.when(~repeat).then(pl.col(key)).is_first_distinct()
        if known:
            clash = clash | (~repeat & pl.col(key).is_in(list(known)))
        marks = frame.select(repeat.alias("repeat"), clash.alias("clash"))
        if not (marks["repeat"].any() or marks["clash"].any()):
            frames[kind] = frame
            continue
        dropped.add(kind)
        dup = frame.filter(marks["clash"])
        if dup.height:
            refusals.append(
                dup.select(
                    pl.lit(kind).alias("kind"),
                    pl.col("guid"),
                    pl.col(key).alias("business_key"),
                    pl.col("sender"),
                    pl.lit(D.REFUSED, pl.Int32).alias("status"),
                    pl.lit(code).alias("code"),
                    pl.lit(zh).alias("reason_zh"),
                    pl.lit(en).alias("reason_en"),
                )
            )
        frames[kind] = frame.filter(~(marks["repeat"] | marks["clash"]))
    ok_lists = frames["lists"]
    ok_orders = frames["orders"]
    docs = Documents(
        orders=ok_orders,
        order_lines=new.order_lines
        if "orders" not in dropped
        else new.order_lines.join(ok_orders.select("guid"), on="guid", how="semi")
        if new.order_lines.height and ok_orders.height
        else new.order_lines.head(0),
        payments=frames["payments"],
        waybills=frames["waybills"],
        lists=ok_lists,
        list_lines=new.list_lines
        if "lists" not in dropped
        else new.list_lines.join(
            ok_lists.select(pl.col("guid").alias("list_guid")), on="list_guid", how="semi"
        )
        if new.list_lines.height and ok_lists.height
        else new.list_lines.head(0),
    )
    receipts = (
        pl.concat([_as_receipts(r) for r in refusals]) if refusals else pl.DataFrame(schema=RECEIPT_SCHEMA)
    )
    return docs, receipts


def run_step(
    new: Documents,
    state: StepState,
    *,
    now: datetime,
    params: ParameterSet,
    hs: pl.DataFrame,
    tax: TaxFn,
    tolerance: MatchingTolerance | None = None,
) -> StepResult:
    """Clear what can be cleared; keep the rest waiting."""
    fresh, receipts = _dedupe(new, state.existing_keys)
    docs = state.waiting.concat(fresh) if not state.waiting.empty else fresh
    lists = docs.lists
    if lists.height == 0:
        return _only_waiting(docs, fresh, receipts, state)
    links = link_sets(lists, docs.orders, docs.payments, docs.waybills)
    lists = lists.join(links.drop("waybill_key"), on="list_key", how="left")
    today = now.date()
    expiry = timedelta(hours=float(params.decimal_at("import.matching.expiry_hours", today)))
    complete = lists.filter(pl.col("complete"))
    complete_keys = complete.select("list_key")
    c_lines = docs.list_lines.join(complete_keys, on="list_key", how="semi")

    violations = [
        validate_lists(complete, c_lines, hs),
        validate_payments(
            docs.payments.join(complete_keys.rename({"list_key": "order_key"}), on="order_key", how="semi")
        ),
        check_sets(complete, c_lines, docs.orders, docs.order_lines, docs.payments, docs.waybills, tolerance),
    ]
    refused_so_far = pl.concat([v.cast(VIOLATION_SCHEMA) for v in violations]).select("list_key").unique()

    # tax and the single-transaction limit, for lists still in the running
    taxable = complete.join(refused_so_far, on="list_key", how="anti")
    t_lines_in = c_lines.join(
        taxable.select("list_key", "freight", "insuredFee", "declTime"), on="list_key", how="semi"
    ).join(
        taxable.select("list_key", "freight", "insuredFee", pl.col("declTime").alias("declDate")),
        on="list_key",
        how="left",
        suffix="_head",
    )
    tax_lines, tax_lists = tax(t_lines_in, taxable)
    over = tax_lists.filter(~pl.col("admissible"))
    violations.append(
        over.select(
            "list_key",
            pl.lit("T").alias("rule"),
            pl.col("reject_code").alias("code"),
            "reason_zh",
            "reason_en",
        )
    )

    # annual quota, in arrival order, for lists still in the running
    # (the tax rule already carries each list's annual limit as of its date)
    admissible = tax_lists.filter(pl.col("admissible")).select(
        "list_key", pl.col("dutiable_value").alias("amount"), "annual_limit"
    )
    cand = taxable.join(admissible, on="list_key", how="inner")
    cand = cand.with_columns(
        (
            pl.col("buyer_key")
            if "buyer_key" in cand.columns
            else buyer_keys(cand["buyerIdNumber"], state.buyer_secret).alias("buyer_key")
        ),
        pl.col("declTime").dt.year().alias("year"),
    )
    used = (
        state.quota_used
        if state.quota_used is not None
        else pl.DataFrame(schema={"buyer_key": pl.String(), "year": pl.Int32(), "used": pl.Decimal(19, 5)})
    )
    cand = cand.join(
        used.with_columns(pl.col("year").cast(pl.Int32)), on=["buyer_key", "year"], how="left"
    ).with_columns(
        pl.col("used").fill_null(Decimal(0)).cast(pl.Decimal(19, 5)).alias("used_before"),
        pl.col("year").cast(pl.Int32),
    )
    judged = admit(
        cand.select("list_key", "buyer_key", "year", "seq", "amount", "used_before", "annual_limit")
    )
    over_quota = judged.filter(~pl.col("quota_ok"))
    violations.append(
        over_quota.select(
            "list_key",
            pl.lit("Q").alias("rule"),
            pl.lit("-621018").alias("code"),
            pl.format(
                "订购人已用额度{}，本次购买{}将超过年度限额{}", "used_at", "amount", "annual_limit"
            ).alias("reason_zh"),
            pl.format(
                "the buyer has used {} of the annual limit {}; this purchase of {} would exceed it",
                "used_at",
                "annual_limit",
                "amount",
            ).alias("reason_en"),
        )
    )

    all_violations = pl.concat([v.cast(VIOLATION_SCHEMA) for v in violations])
    inspection = float(params.decimal_at("import.risk.inspection_rate", today))
    review = float(params.decimal_at("import.risk.manual_review_rate", today))
    lists = select(lists, inspection_rate=inspection, review_rate=review)
    expired = (pl.lit(now) - pl.col("received_at").cast(pl.Datetime("us"))) > pl.lit(expiry)
    lists = lists.with_columns(expired.alias("_expired"))
    decided = D.decide(lists.drop("_expired"), all_violations, expired=lists["_expired"])
    writeoffs, holds = _ledger(decided, c_lines, state)
    if holds.height:
        decided = _held(decided, holds)

    # invtNo for lists that entered customs' system: 4-digit customs + year + I + 9-digit serial (18)
    entered = decided.filter(pl.col("status").is_in(ENTERED))
    seq0 = state.next_invt_seq
    entered = entered.with_columns(
        pl.format(
            "{}{}I{}",
            pl.col("customsCode"),
            pl.col("declTime").dt.year(),
            (pl.int_range(pl.len()) + seq0).cast(pl.String).str.zfill(9),
        ).alias("invtNo")
    )
    decided = decided.join(entered.select("list_key", "invtNo"), on="list_key", how="left", suffix="_new")
    if "invtNo_new" in decided.columns:
        decided = decided.with_columns(pl.coalesce("invtNo_new", "invtNo").alias("invtNo")).drop("invtNo_new")

    movements = (
        judged.filter(pl.col("quota_ok"))
        .join(entered.select("list_key"), on="list_key", how="semi")
        .select("buyer_key", "year", "list_key", "amount")
    )

    receipts = pl.concat([receipts, _set_receipts(decided, docs, fresh)], how="diagonal_relaxed")
    waiting = _still_waiting(docs, decided)
    return StepResult(
        decisions=decided,
        receipts=receipts,
        waiting=waiting,
        quota_movements=movements,
        tax_lines=tax_lines.join(entered.select("list_key"), on="list_key", how="semi"),
        tax_lists=tax_lists.join(entered.select("list_key", "invtNo"), on="list_key", how="inner"),
        released_lines=c_lines.join(entered.select("list_key"), on="list_key", how="semi"),
        next_invt_seq=seq0 + entered.height,
        ledger_writeoffs=writeoffs,
        ledger_holds=holds,
    )


#: Statuses of lists that entered customs' system (120 passed; an invtNo, quota and tax bill booked); 399 is
#: a released list held by its bonded ledger (:func:`_ledger`).
ENTERED = [D.RELEASED, D.INSPECTION, D.REVIEW, D.CONCLUDED]


def _ledger(
    decided: pl.DataFrame, lines: pl.DataFrame, state: StepState
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Released 1210 lists on a ledger filed in cbec against their ledger (cbec.rules.ledger.fit)."""
    empty = (ledger_rule.empty_demand(), pl.DataFrame(schema=ledger_rule.HOLD_SCHEMA))
    if not state.ledger_ems or "emsNo" not in decided.columns:
        return empty  # the fast path of every batch without a filed bonded ledger
    bonded = decided.filter(
        (pl.col("status") == D.RELEASED)
        & (pl.col("tradeMode") == "1210")
        & pl.col("emsNo").is_in(sorted(state.ledger_ems))
    ).select("list_key", pl.col("seq").cast(pl.Int64), pl.col("emsNo").alias("ems_no"))
    if bonded.height == 0:
        return empty
    demand = lines.join(bonded, on="list_key", how="inner").select(
        "list_key",
        "seq",
        pl.col("gnum").cast(pl.Int64),
        "ems_no",
        pl.col("itemRecordNo").alias("item_record_no"),
        pl.col("unit1"),
        pl.col("unit2"),
        ledger_rule.scaled(pl.coalesce("qty1", "qty")).alias("qty"),
        ledger_rule.scaled(pl.col("qty2")).alias("qty2"),
    )
    balances = (
        state.ledger_balances
        if state.ledger_balances is not None
        else pl.DataFrame(schema=ledger_rule.BALANCE_SCHEMA)
    )
    return ledger_rule.fit(demand, balances)


def _held(decided: pl.DataFrame, holds: pl.DataFrame) -> pl.DataFrame:
    """Held lists stay at 399 (concluded, not released) with the ledger's reason."""
    reasons = holds.unique("list_key", keep="first", maintain_order=True).select(
        "list_key",
        pl.col("rule").alias("_rule"),
        pl.col("reason_zh").alias("_zh"),
        pl.col("reason_en").alias("_en"),
    )
    held = pl.col("_rule").is_not_null()
    return (
        decided.join(reasons, on="list_key", how="left")
        .with_columns(
            pl.when(held)
            .then(pl.lit(D.CONCLUDED))
            .otherwise(pl.col("status"))
            .cast(pl.Int32)
            .alias("status"),
            pl.when(held).then(pl.col("_rule")).otherwise(pl.col("rule")).alias("rule"),
            pl.when(held).then(pl.col("_zh")).otherwise(pl.col("reason_zh")).alias("reason_zh"),
            pl.when(held).then(pl.col("_en")).otherwise(pl.col("reason_en")).alias("reason_en"),
        )
        .drop("_rule", "_zh", "_en")
    )


def _set_receipts(decided: pl.DataFrame, docs: Documents, fresh: Documents) -> pl.DataFrame:
    """Receipts for lists and for the order/payment/waybill of each decided set."""
    final = decided.filter(pl.col("status") != D.WAITING)
    entered = final.filter(pl.col("status").is_in(ENTERED))

    def list_rows(
        frame: pl.DataFrame, status: int | None, zh: str | None, en: str | None, step: int
    ) -> pl.DataFrame:
        return frame.select(
            pl.lit("lists").alias("kind"),
            "guid",
            pl.col("list_key").alias("business_key"),
            "sender",
            (pl.lit(status) if status is not None else pl.col("status")).cast(pl.Int32).alias("status"),
            pl.col("code") if status is None else pl.lit(None, pl.String).alias("code"),
            pl.lit(zh).alias("reason_zh") if zh else pl.col("reason_zh"),
            pl.lit(en).alias("reason_en") if en else pl.col("reason_en"),
            pl.lit(step, pl.Int32).alias("step"),
        )

    # a list that enters customs' system passes 120 (accepted) and, when released, 399 (concluded) first
    parts = [
        list_rows(
            entered, D.ACCEPTED, "海关入库，逻辑校验通过", "accepted into customs' system; checks passed", 0
        ),
        list_rows(
            entered.filter(pl.col("status") == D.RELEASED), D.CONCLUDED, "海关审结", "concluded by customs", 1
        ),
        list_rows(final, None, None, None, 2),
    ]
    # new lists still waiting get their first receipt (2: declaring) now
    waiting_new = decided.filter(pl.col("status") == D.WAITING).join(
        fresh.lists.select("guid"), on="guid", how="semi"
    )
    parts.append(
        waiting_new.select(
            pl.lit("lists").alias("kind"),
            "guid",
            pl.col("list_key").alias("business_key"),
            "sender",
            pl.lit(D.WAITING, pl.Int32).alias("status"),
            pl.lit(None, pl.String).alias("code"),
            pl.lit("电子口岸已接收，等待三单齐全").alias("reason_zh"),
            pl.lit("received; waiting for the order, payment and waybill").alias("reason_en"),
        )
    )
    complete = final.filter(pl.col("complete"))
    matched_fail = pl.col("rule").is_not_null() & pl.col("rule").str.starts_with("M")
    doc_status = pl.when(matched_fail).then(pl.lit(D.REFUSED)).otherwise(pl.lit(D.ACCEPTED)).cast(pl.Int32)
    doc_code = pl.when(matched_fail).then(pl.col("code"))
    doc_zh = pl.when(matched_fail).then(pl.col("reason_zh")).otherwise(pl.lit("三单对碰成功"))
    doc_en = pl.when(matched_fail).then(pl.col("reason_en")).otherwise(pl.lit("matched with its list"))
    keyed = complete.select(
        "list_key",
        "waybill_key",
        doc_status.alias("status"),
        doc_code.alias("code"),
        doc_zh.alias("reason_zh"),
        doc_en.alias("reason_en"),
    )
    for kind, key, frame in (
        ("orders", "order_key", docs.orders),
        ("payments", "order_key", docs.payments),
        ("waybills", "waybill_key", docs.waybills),
    ):
        if frame.height == 0:
            continue
        join_key = "list_key" if key == "order_key" else "waybill_key"
        parts.append(
            frame.select("guid", pl.col(key).alias(join_key), "sender")
            .join(
                keyed.select(join_key, "status", "code", "reason_zh", "reason_en"), on=join_key, how="inner"
            )
            .select(
                pl.lit(kind).alias("kind"),
                "guid",
                pl.col(join_key).alias("business_key"),
                "sender",
                "status",
                "code",
                "reason_zh",
                "reason_en",
            )
        )
    # new order/payment/waybill documents not decided yet: acknowledged as waiting (2)
    for kind, key in (("orders", "order_key"), ("payments", "order_key"), ("waybills", "waybill_key")):
        frame = getattr(fresh, kind)
        if frame.height == 0:
            continue
        join_key = "list_key" if key == "order_key" else "waybill_key"
        done = keyed.select(join_key)
        pending = frame.join(done.rename({join_key: key}), on=key, how="anti")
        parts.append(
            pending.select(
                pl.lit(kind).alias("kind"),
                "guid",
                pl.col(key).alias("business_key"),
                "sender",
                pl.lit(D.WAITING, pl.Int32).alias("status"),
                pl.lit(None, pl.String).alias("code"),
                pl.lit("电子口岸已接收，等待清单").alias("reason_zh"),
                pl.lit("received; waiting for its list").alias("reason_en"),
            )
        )
    return pl.concat([_as_receipts(p) for p in parts])


def _as_receipts(frame: pl.DataFrame) -> pl.DataFrame:
    """Receipt rows in the common schema (rows without a step are single receipts: step 2)."""
    if "step" not in frame.columns:
        frame = frame.with_columns(pl.lit(2, pl.Int32).alias("step"))
    return frame.select(list(RECEIPT_SCHEMA)).cast(RECEIPT_SCHEMA)


def _still_waiting(docs: Documents, decided: pl.DataFrame) -> Documents:
    done = decided.filter(pl.col("status") != D.WAITING)
    done_sets = done.filter(pl.col("complete"))
    return Documents(
        orders=docs.orders.join(
            done_sets.select(pl.col("list_key").alias("order_key")), on="order_key", how="anti"
        ),
        order_lines=docs.order_lines.join(
            done_sets.select(pl.col("list_key").alias("order_key")), on="order_key", how="anti"
        )
        if docs.order_lines.height
        else docs.order_lines,
        payments=docs.payments.join(
            done_sets.select(pl.col("list_key").alias("order_key")), on="order_key", how="anti"
        ),
        waybills=docs.waybills.join(done_sets.select("waybill_key"), on="waybill_key", how="anti"),
        lists=docs.lists.join(done.select("list_key"), on="list_key", how="anti"),
        list_lines=docs.list_lines.join(done.select("list_key"), on="list_key", how="anti")
        if docs.list_lines.height
        else docs.list_lines,
    )


def _only_waiting(docs: Documents, fresh: Documents, receipts: pl.DataFrame, state: StepState) -> StepResult:
    empty = pl.DataFrame()
    ack = _set_receipts(
        pl.DataFrame(
            schema=pl.Schema({**D.EMPTY_DECISIONS, "sender": pl.String(), "waybill_key": pl.String()})
        ),
        docs,
        fresh,
    )
    return StepResult(
        decisions=pl.DataFrame(schema=D.EMPTY_DECISIONS),
        receipts=pl.concat([receipts, ack], how="diagonal_relaxed"),
        waiting=docs,
        quota_movements=pl.DataFrame(
            schema={
                "buyer_key": pl.String(),
                "year": pl.Int32(),
                "list_key": pl.String(),
                "amount": pl.Decimal(19, 5),
            }
        ),
        tax_lines=empty,
        tax_lists=empty,
        next_invt_seq=state.next_invt_seq,
    )
