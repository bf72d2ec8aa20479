"""``cbec summary --period 2026-10``: summarise a month of cleared export lists into declarations (汇总申报).

Summarising is idempotent: the lists already in an application are never taken again, so running the month
again prints the same applications and creates nothing; lists cleared after the month was summarised go into
a supplementary application (补充申报).  The command prints the applications (with their due date and whether
they are late), the declarations and their lines, and exports them: ``--csv DIR`` (declarations, lines,
list-line mapping, lists left out), ``--xlsx FILE``, ``--xml DIR`` (per application the CEB701 application
and the CEB702/CEB792 receipts, XSD-valid), ``--json`` for programs.  Exit 0 on success, 2 with a reason in
中文 and English when the period is malformed or nothing was cleared in it (nothing is written then).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["summary"]

_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)

SHOWN_LINES = 40


def _fail(zh: str, en: str) -> typer.Exit:
    _err.print(f"[red]{escape(zh)} / {escape(en)}[/red]", highlight=False)
    return typer.Exit(2)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _parse_at(at: str | None) -> datetime:
    if not at:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        raise _fail(f"--at 时间格式无效：{at}", f"--at is not an ISO date-time: {at}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def summary(
    period: Annotated[str, typer.Option("--period", "-p", help="the month to summarise, YYYY-MM")],
    database: Annotated[
        str | None,
        typer.Option("--database", "--db", help="database URL (default: $CBEC_DATABASE_URL or var/cbec.db)"),
    ] = None,
    codes: Annotated[
        list[str] | None,
        typer.Option(
            "--ebc", help="only lists of this consignor or declaring agent (repeatable; default all)"
        ),
    ] = None,
    summary_flag: Annotated[
        str, typer.Option("--summary-flag", help="1: by consignor; 2: by consignor and producer/seller")
    ] = "1",
    item_name: Annotated[
        bool, typer.Option("--item-name", help="keep the lists' item names apart (itemNameFlag 1)")
    ] = False,
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="write CSV files into this folder")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="write an Excel workbook")] = None,
    xml_dir: Annotated[
        Path | None, typer.Option("--xml", help="write CEB701 and CEB702/CEB792 XML into this folder")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="when the summary is filed (ISO date-time; default now)")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="who files it (经办人)")] = "cli",
    all_lines: Annotated[
        bool, typer.Option("--all", help=f"print every line (default {SHOWN_LINES})")
    ] = False,
) -> None:
    """Summarise a month's cleared export lists into declarations (清单核放、汇总申报) and export them."""
    from cbec.engine import summary as engine_summary
    from cbec.rules.summary import SummaryOptions
    from cbec.store import summaries as repo
    from cbec.store.db import connect

    if summary_flag not in ("1", "2"):
        raise _fail("--summary-flag 只能是1或2", "--summary-flag must be 1 or 2")
    now = _parse_at(at)
    scope = repo.SummaryScope(codes=frozenset(codes)) if codes else repo.SummaryScope(everything=True)
    engine = connect(database)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=_err,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("汇总 summarising", total=4)

            def step(what: str, done: int, total: int) -> None:
                bar.update(task, description=what, completed=done, total=total)

            run = engine_summary.summarise(
                engine,
                period,
                scope=scope,
                by=by,
                now=now,
                options=SummaryOptions(summary_flag=summary_flag, item_name_flag=item_name),  # type: ignore[arg-type]
                progress=step,
            )
        with engine.connect() as conn:
            ids = [int(a["id"]) for a in run.applications]
            stored = repo.load_summary(conn, ids)
            # the lists left out now, except those in the applications exported (summarised before)
            left_out = run.excluded.filter(pl.col("reason") != "summarised")
            stored = type(stored)(stored.declarations, stored.declaration_lines, stored.mapping, left_out)
            written = _export(conn, run, stored, csv_dir=csv_dir, xlsx=xlsx, xml_dir=xml_dir)
    except engine_summary.SummaryError as exc:
        raise _fail(exc.zh, exc.en) from None
    finally:
        engine.dispose()
    if as_json:
        _out.print_json(
            json.dumps(_as_json(run, stored, now, written), ensure_ascii=False, default=_json_value)
        )
        return
    _print(run, stored, now, written, all_lines)


def _export(
    conn: Any,
    run: Any,
    stored: Any,
    *,
    csv_dir: Path | None,
    xlsx: Path | None,
    xml_dir: Path | None,
) -> list[str]:
    from cbec.engine.summary import application_xml
    from cbec.reports.summary_export import write_summary_csv, write_summary_xlsx

    written: list[str] = []
    if csv_dir is not None:
        written += [str(p) for p in write_summary_csv(stored, csv_dir, prefix=f"summary-{run.period}")]
    if xlsx is not None:
        written.append(str(write_summary_xlsx(stored, xlsx)))
    if xml_dir is not None:
        xml_dir.mkdir(parents=True, exist_ok=True)
        for app in run.applications:
            for name, data in application_xml(conn, app).items():
                (xml_dir / name).write_bytes(data)
                written.append(str(xml_dir / name))
    return written


def _as_json(run: Any, stored: Any, now: datetime, written: list[str]) -> dict[str, Any]:
    from cbec.engine.summary import is_late

    created = {a["sum_no"] for a in run.created}
    decls = stored.declarations
    lines = stored.declaration_lines
    apps = []
    for a in run.applications:
        key = (pl.col("ebcCode") == a["ebc_code"]) & (pl.col("supplement") == a["supplement"])
        d_rows = decls.filter(key).to_dicts()
        l_rows = lines.filter(key).to_dicts()
        apps.append(
            {
                "sumNo": a["sum_no"],
                "ebcCode": a["ebc_code"],
                "agentCode": a["agent_code"],
                "supplement": a["supplement"],
                "lists": a["lists"],
                "dueDate": a["due_date"],
                "late": is_late(a["due_date"], a["created_at"], now),
                "createdAt": a["created_at"],
                "new": a["sum_no"] in created,
                "declarations": [
                    {**d, "lines": [x for x in l_rows if x["declNo"] == d["declNo"]], "lineCount": d["lines"]}
                    for d in d_rows
                ],
            }
        )
    reasons = run.excluded.group_by("reason").len().sort("reason").rows() if run.excluded.height else []
    return {
        "period": run.period,
        "due": {
            "date": run.due.due.isoformat(),
            "nominal": run.due.nominal.isoformat(),
            "skipped": list(run.due.skipped),
            "calendarPublished": run.due.calendar_published,
            "reference": str(run.due.deadline_reference),
        },
        "cleared": run.cleared,
        "created": sorted(created),
        "excluded": {r: n for r, n in reasons},
        "applications": apps,
        "files": written,
    }


def _print(run: Any, stored: Any, now: datetime, written: list[str], all_lines: bool) -> None:
    from cbec.engine.summary import is_late

    created = {a["sum_no"] for a in run.created}
    due = run.due
    _out.print(
        f"[bold]{run.period}[/bold] 汇总申报 summary declaration — 截止 due {due.due.isoformat()}"
        + (f" (顺延 moved from {due.nominal.isoformat()}: {', '.join(due.skipped)})" if due.skipped else "")
        + ("" if due.calendar_published else " [yellow]节假日安排未公布 holidays not published yet[/yellow]"),
        highlight=False,
    )
    _out.print(
        f"结关清单 cleared lists: {run.cleared}; 新建申请 new applications: {len(created)}"
        + ("" if created else " (已汇总过，未作更改 already summarised, nothing changed)"),
        highlight=False,
    )
    if run.excluded.height:
        for reason, n in run.excluded.group_by("reason").len().sort("reason").rows():
            _out.print(f"  未汇总 left out — {reason}: {n}", highlight=False)
    apps = Table(title="汇总申请 Applications (CEB701)")
    for c in (
        "sumNo",
        "收发货人 ebcCode",
        "补充 suppl.",
        "清单 lists",
        "报关单 decl.",
        "截止 due",
        "逾期 late",
        "",
    ):
        apps.add_column(c)
    for a in run.applications:
        late = is_late(a["due_date"], a["created_at"], now)
        apps.add_row(
            a["sum_no"],
            a["ebc_code"],
            str(a["supplement"]),
            str(a["lists"]),
            str(a["declarations"]),
            a["due_date"],
            "[red]是 yes[/red]" if late else "否 no",
            "新 new" if a["sum_no"] in created else "",
        )
    _out.print(apps)
    decls = Table(title="报关单 Declarations")
    decls.add_column("declSeqNo", no_wrap=True, min_width=18)
    for c in (
        "ebcCode",
        "suppl.",
        "no.",
        "运输 traf",
        "运抵国 arr.",
        "关别 port",
        "贸易 mode",
        "清单 lists",
        "项 lines",
        "毛重 kg",
    ):
        decls.add_column(c)
    for d in stored.declarations.iter_rows(named=True):
        decls.add_row(
            d["declSeqNo"],
            d["ebcCode"],
            str(d["supplement"]),
            str(d["declNo"]),
            d["trafMode"] or "",
            d["arrivalCountry"] or "",
            d["portCode"] or "",
            d["tradeMode"] or "",
            str(d["lists"]),
            str(d["lines"]),
            str(d["grossWeight"]),
        )
    _out.print(decls)
    lines = Table(title="表体 Declaration lines")
    for c in (
        "ebcCode",
        "suppl.",
        "no.",
        "gseqno",
        "目的国 dest.",
        "gcode",
        "币制 curr.",
        "品名 gname",
        "qty1",
        "总价 total",
    ):
        lines.add_column(c)
    rows = stored.declaration_lines
    shown = rows if all_lines else rows.head(SHOWN_LINES)
    for x in shown.iter_rows(named=True):
        lines.add_row(
            x["ebcCode"],
            str(x["supplement"]),
            str(x["declNo"]),
            str(x["gseqno"]),
            x["destinationCountry"] or "",
            x["gcode"] or "",
            x["currency"] or "",
            x["gname"] or "",
            f"{x['qty1']} {x['unit1'] or ''}",
            str(x["totalPrice"]),
        )
    _out.print(lines)
    if shown.height < rows.height:
        _out.print(
            f"… 另有 {rows.height - shown.height} 项 more lines (--all, --csv, --xlsx)", highlight=False
        )
    for path in written:
        _out.print(f"写入 wrote {path}", highlight=False)
