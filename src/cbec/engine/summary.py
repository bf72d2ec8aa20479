"""Summarising a month of cleared export lists (清单核放、汇总申报): the shell around the summary rule.

:func:`summarise` reads the lists cleared (899) in the period, what earlier runs summarised, calls the rule,
and stores the new applications, declarations, lines and the list-line mapping — all in one transaction, so
two runs cannot both take a list (the second waits on SQLite's write lock, or fails on PostgreSQL on the
mapping's primary key and writes nothing).  Why "what earlier runs summarised" goes into the rule: running
the same month again must give the same applications (nothing new is created), and a list cleared after the
month was summarised must go into a supplementary application (补充申报, supplement 1, 2 …), never into a
second copy of the first one.

:func:`render_xml` turns a stored application into the CEB701 application and the CEB702/CEB792 receipts
(XSD-valid; numbers as stored, so rendering twice gives the same numbers).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cbec.messages.signature import SigningIdentity
from cbec.messages.summary_docs import Declarant, apply_cop_no, ceb701, ceb702, ceb792, decl_seq_no, sum_no
from cbec.params.dated import ParameterNotInForce, ParameterSet, default_parameters
from cbec.rules.summary import DueDate, Summary, SummaryOptions, due_date, parse_period, period_bounds
from cbec.rules.summary import summarise_period as rule_summarise
from cbec.store import counters
from cbec.store import summaries as repo
from cbec.store.export_lists import cleared_lists
from cbec.store.schema import summary_declaration_line, summary_list_line

__all__ = [
    "SummaryError",
    "SummaryRun",
    "application_xml",
    "is_late",
    "summarise",
]

CHINA = ZoneInfo("Asia/Shanghai")
SUM_NO_COUNTER = "summary_sum_no"
DECL_SEQ_COUNTER = "summary_decl_seq_no"

Progress = Callable[[str, int, int], None]


class SummaryError(ValueError):
    """The period cannot be summarised; ``zh``/``en`` say why (nothing was written)."""

    def __init__(self, code: str, zh: str, en: str, status: int = 422) -> None:
        super().__init__(en)
        self.code = code
        self.zh = zh
        self.en = en
        self.status = status


@dataclass(frozen=True)
class SummaryRun:
    """What one run found and did.

    ``created``: the applications this run stored (empty when the month was already summarised: the run
    changed nothing); ``applications``: every application of the period in the caller's scope, old and new;
    ``excluded``: lists of the period not summarised now, with the rule's reason (simplified A lists,
    lists summarised before, lists without lines); ``cleared``: lists cleared in the period in scope.
    """

    period: str
    due: DueDate
    cleared: int
    created: list[dict[str, Any]]
    applications: list[dict[str, Any]]
    excluded: pl.DataFrame
    summary: Summary | None = field(default=None, repr=False)


_PERIOD = re.compile(r"^[12][0-9]{3}-(0[1-9]|1[0-2])$")


def check_period(period: str) -> str:
    """YYYY-MM in ASCII digits, years 1000-2999 (so the next month and its due date always exist)."""
    try:
        if not _PERIOD.match(period):
            raise ValueError(period)
        parse_period(period)
    except ValueError:
        raise SummaryError(
            "bad-period",
            f"汇总月份格式应为YYYY-MM（如2026-10），收到“{period}”",
            f"the period must be YYYY-MM (e.g. 2026-10), got {period!r}",
            400,
        ) from None
    return period


def period_due(period: str, params: ParameterSet | None = None) -> DueDate:
    """The period's due date, or a :class:`SummaryError` when no deadline parameter covers it."""
    try:
        return due_date(check_period(period), params)
    except ParameterNotInForce as exc:
        raise SummaryError(
            "no-deadline",
            f"{period}不在汇总申报规定的适用期内（{exc.name}）",
            f"{period} is outside the period the summary rules apply to ({exc.name})",
            422,
        ) from None


def period_window(period: str) -> tuple[datetime, datetime]:
    """The month in China time (the month customs counts in), as aware datetimes."""
    start, end = period_bounds(check_period(period))
    return (
        datetime(start.year, start.month, 1, tzinfo=CHINA),
        datetime(end.year, end.month, 1, tzinfo=CHINA),
    )


def is_late(due: date | str, created_at: datetime | None, now: datetime) -> bool:
    """Filed after its due day (China date), or not filed and the due day has passed."""
    day = date.fromisoformat(due) if isinstance(due, str) else due
    when = created_at if created_at is not None else now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(CHINA).date() > day


def _in_scope(heads: pl.DataFrame, scope: repo.SummaryScope) -> pl.DataFrame:
    if scope.everything or heads.height == 0:
        return heads
    codes = sorted(scope.codes)
    keep = pl.col("ebcCode").is_in(codes) | pl.col("agentCode").is_in(codes)
    if scope.district:
        d = scope.district
        for column in ("customsCode", "portCode"):
            value = pl.col(column).fill_null("")
            keep = keep | (value.str.starts_with(d[:2]) if d.endswith("00") else (value == d))
    return heads.filter(keep)


def _mode(values: Iterable[str | None], default: str = "") -> str:
    found = Counter(v for v in values if v)
    return min(found.items(), key=lambda kv: (-kv[1], kv[0]))[0] if found else default


def summarise(
    engine: Engine,
    period: str,
    *,
    scope: repo.SummaryScope | None = None,
    by: str,
    now: datetime,
    options: SummaryOptions | None = None,
    params: ParameterSet | None = None,
    progress: Progress | None = None,
) -> SummaryRun:
    """Summarise the lists of ``period`` in ``scope`` (default: all) that no application took yet.

    Raises :class:`SummaryError` when the period is malformed or nothing in scope was cleared in it.
    """
    check_period(period)
    scope = scope or repo.SummaryScope(everything=True)
    options = options or SummaryOptions()
    params = params or default_parameters()
    due = period_due(period, params)
    start, end = period_window(period)
    step = progress or (lambda _what, _done, _total: None)
    try:
        with engine.begin() as conn:
            step("读取结关清单 reading cleared lists", 0, 4)
            heads, lines = cleared_lists(conn, start.astimezone(UTC), end.astimezone(UTC))
            heads = _in_scope(heads, scope)
            if heads.height == 0:
                raise SummaryError(
                    "nothing-cleared",
                    f"{period}没有可汇总的已结关（899）出口清单",
                    f"no export list was cleared (899) in {period} that you may summarise",
                    404,
                )
            heads = heads.rename({"clearedAt": "cleared_at"})
            lines = lines.filter(pl.col("invtNo").is_in(heads["invtNo"].implode()))
            step("核对已汇总清单 checking what was summarised", 1, 4)
            already = repo.summarised(conn, heads["invtNo"].to_list())
            step("归并 grouping", 2, 4)
            result = rule_summarise(heads, lines, period, already=already, options=options)
            step("保存 storing", 3, 4)
            created = _store(conn, result, heads, options, due, by=by, now=now)
            step("完成 done", 4, 4)
            apps = repo.applications(conn, scope, period=period)
    except IntegrityError:
        raise SummaryError(
            "concurrent",
            "另一汇总正在处理同一月份的清单，请稍后重试（本次未写入任何数据）",
            "another run is summarising the same lists; try again (nothing was written)",
            409,
        ) from None
    return SummaryRun(
        period=period,
        due=due,
        cleared=heads.height,
        created=created,
        applications=apps,
        excluded=result.excluded,
        summary=result,
    )


def _china_naive(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(CHINA).replace(tzinfo=None)


def _store(
    conn: Connection,
    result: Summary,
    heads: pl.DataFrame,
    options: SummaryOptions,
    due: DueDate,
    *,
    by: str,
    now: datetime,
) -> list[dict[str, Any]]:
    if result.declarations.height == 0:
        return []
    year = _china_naive(now).year
    apps = (
        result.declarations.select("period", "ebcCode", "supplement").unique().sort("ebcCode", "supplement")
    )
    created = []
    # one pass over each frame (a month may hold millions of lists and thousands of consignors)
    keys = ["ebcCode", "supplement"]
    maps = result.mapping.partition_by(keys, as_dict=True)
    all_decls = result.declarations.partition_by(keys, as_dict=True)
    all_lines = result.declaration_lines.partition_by(keys, as_dict=True)
    heads_of = heads.partition_by("ebcCode", as_dict=True)
    for period, ebc, supplement in apps.iter_rows():
        mine = maps[(ebc, supplement)]
        invts = mine["invtNo"].unique()
        of_lists = heads_of[(ebc,)].filter(pl.col("invtNo").is_in(invts.implode()))
        customs = _mode(of_lists["customsCode"].to_list(), "0000")
        agent = _mode(of_lists["agentCode"].to_list(), ebc)
        agent_name = _mode(
            of_lists.filter(pl.col("agentCode") == agent)["agentName"].to_list()
            if "agentName" in of_lists.columns
            else [],
            agent,
        )
        ebc_name = _mode(of_lists["ebcName"].to_list() if "ebcName" in of_lists.columns else [], ebc)
        decls = all_decls[(ebc, supplement)]
        serial = counters.current(conn, SUM_NO_COUNTER) + 1
        counters.advance(conn, SUM_NO_COUNTER, 1)
        first_decl = counters.current(conn, DECL_SEQ_COUNTER) + 1
        counters.advance(conn, DECL_SEQ_COUNTER, decls.height)
        number = sum_no(customs, year, serial)
        row = {
            "period": period,
            "ebc_code": ebc,
            "supplement": int(supplement),
            "sum_no": number,
            "pre_no": f"{customs}{year:04d}P{serial:09d}",
            "cop_no": apply_cop_no(period, ebc, int(supplement)),
            "customs_code": customs,
            "agent_code": agent[:32],
            "agent_name": agent_name[:100],
            "ebc_name": ebc_name[:100],
            "summary_flag": options.summary_flag,
            "item_name_flag": "1" if options.item_name_flag else "0",
            "status": "declared",
            "due_date": due.due.isoformat(),
            "lists": invts.len(),
            "declarations": decls.height,
            "created_at": now,
            "created_by": by[:64],
        }
        app_id = repo.insert_application(conn, row)
        decl_ids: dict[int, int] = {}
        for d in decls.sort("declNo").iter_rows(named=True):
            decl_ids[int(d["declNo"])] = repo.insert_declaration(
                conn,
                {
                    "application_id": app_id,
                    "decl_no": int(d["declNo"]),
                    "decl_seq_no": decl_seq_no(customs, year, first_decl + int(d["declNo"]) - 1),
                    "traf_mode": d["trafMode"],
                    "owner_code": d["ownerCode"],
                    "arrival_country": d["arrivalCountry"],
                    "port_code": d["portCode"],
                    "trade_mode": d["tradeMode"],
                    "owner_name": (d["ownerName"] or None) and str(d["ownerName"])[:100],
                    "lists": int(d["lists"]),
                    "lines": int(d["lines"]),
                    "gross_weight_e5": repo.e5(d["grossWeight"]) or 0,
                    "net_weight_e5": repo.e5(d["netWeight"]) or 0,
                    "cleared_from": _aware(d["cleared_from"]),
                    "cleared_to": _aware(d["cleared_to"]),
                },
            )
        dlines = all_lines[(ebc, supplement)]
        repo.insert_rows(
            conn,
            summary_declaration_line,
            [
                {
                    "declaration_id": decl_ids[int(x["declNo"])],
                    "gseqno": int(x["gseqno"]),
                    "destination_country": x["destinationCountry"],
                    "gcode": x["gcode"],
                    "currency": x["currency"],
                    "item_name": x["itemName"],
                    "gname": x["gname"],
                    "unit": x["unit"],
                    "qty_e5": repo.e5(x["qty"]),
                    "unit1": x["unit1"],
                    "qty1_e5": repo.e5(x["qty1"]),
                    "unit2": x["unit2"],
                    "qty2_e5": repo.e5(x["qty2"]),
                    "total_price_e5": repo.e5(x["totalPrice"]) or 0,
                    "lists": int(x["lists"]),
                    "lines": int(x["lines"]),
                }
                for x in dlines.iter_rows(named=True)
            ],
        )
        repo.insert_rows(
            conn,
            summary_list_line,
            [
                {
                    "invt_no": m["invtNo"],
                    "gnum": int(m["gnum"]),
                    "gcode": m["gcode"],
                    "logistics_no": m["logisticsNo"],
                    "application_id": app_id,
                    "declaration_id": decl_ids[int(m["declNo"])],
                    "gseqno": int(m["gseqno"]),
                }
                for m in mine.iter_rows(named=True)
            ],
        )
        created.append({**row, "id": app_id})
    return created


def _aware(value: datetime | None) -> datetime | None:
    """The rule gives clearing times as naive China time; the store keeps aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=CHINA).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)


def declarant_of(app: dict[str, Any]) -> Declarant:
    return Declarant(
        customs_code=app["customs_code"],
        agent_code=app["agent_code"],
        agent_name=app["agent_name"],
        ebc_name=app["ebc_name"],
        decl_agent_code=app["agent_code"],
        decl_agent_name=app["agent_name"],
    )


def application_xml(
    conn: Connection, app: dict[str, Any], *, signer: SigningIdentity | None = None
) -> dict[str, bytes]:
    """The CEB701 application (appStatus 2 when signed, else 1 暂存 — a declared 701 must be signed) and the
    CEB702 and CEB792 receipts of a stored application, by file name."""
    summary = repo.load_summary(conn, [int(app["id"])])
    created = _china_naive(app["created_at"])
    number = str(app["sum_no"])
    invts = sorted(set(summary.mapping["invtNo"].to_list()))
    files: dict[str, bytes] = {}
    applications = ceb701(
        period=app["period"],
        ebc_code=app["ebc_code"],
        supplement=int(app["supplement"]),
        invt_nos=invts,
        declarant=declarant_of(app),
        summary_flag=app["summary_flag"],
        item_name_flag=app["item_name_flag"] == "1",
        app_time=created,
        app_status="2" if signer is not None else "1",
        signer=signer,
    )
    for k, xml in enumerate(applications, 1):
        files[f"{number}-CEB701-{k}.xml"] = xml
    documents = sum(1 for _ in range(0, max(len(invts), 1), 10_000))
    files[f"{number}-CEB702.xml"] = ceb702(
        period=app["period"],
        ebc_code=app["ebc_code"],
        supplement=int(app["supplement"]),
        declarant=declarant_of(app),
        pre_no=app["pre_no"],
        sum_number=number,
        return_time=created,
        msg_count=documents,
    )
    decls = summary.declarations
    first = min(int(s[-9:]) for s in decls["declSeqNo"].to_list())
    results = ceb792(
        declarations=decls,
        mapping=summary.mapping,
        declarant=declarant_of(app),
        sum_number=number,
        first_serial=first,
        op_date=created,
    )
    for k, xml in enumerate(results, 1):
        files[f"{number}-CEB792-{k}.xml"] = xml
    return files
