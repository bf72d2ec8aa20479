"""``cbec return-site``: the operator's registry of sites that may receive cross-district export returns, and
``cbec return-site history INVTNO`` to see the returns of one export list.

* ``file CUSTOMS OPERATOR --name … --from YYYY-MM-DD [--to …] [--no-return-area] [--no-data-open]`` files (or
  re-files) a CBEC retail-export supervised site (开展跨境电商零售出口业务的海关监管作业场所) with its
  independent return area and system data open to customs — the conditions of the 2026-04-01 announcement;
* ``load FILE.csv`` files every row of a CSV (``customs_code,operator_code,name,valid_from`` and optionally
  ``valid_to,return_area,data_open``; the traffic generator writes ``return-sites.csv``);
* ``list`` shows the registry; ``history INVTNO`` the applications, lines (tax outcome), tallies and master
  bill of one original export list; ``bill BILLNO`` the parcels of a consolidated master bill and their tally.

Exit 0 on success; 2 with a reason in 中文 and English when the filing is refused (nothing is changed then).
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["app"]

app = typer.Typer(
    help="Cross-district export return sites (跨关区退货监管场所) and export-return history.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
Db = Annotated[str | None, typer.Option("--database", help="database URL (default: $CBEC_DATABASE_URL)")]


def _date(raw: str | None, what: str) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        console.print(f"[red]{what} 须为 YYYY-MM-DD / {what} must be YYYY-MM-DD, got {raw!r}[/red]")
        raise typer.Exit(2) from None


def _yes(raw: str | None) -> bool:
    return (raw or "yes").strip().lower() in ("yes", "y", "true", "1", "是")


def _print(rows: Any) -> None:
    print(json.dumps(rows, ensure_ascii=False, default=str, indent=1))


@app.command("file")
def file_cmd(
    customs: Annotated[str, typer.Argument(help="4-digit customs code of the site")],
    operator: Annotated[str, typer.Argument(help="site operator code (监管场所经营人)")],
    name: Annotated[str, typer.Option(help="site name")],
    valid_from: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")],
    valid_to: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
    loct_no: Annotated[str | None, typer.Option(help="site code (loctNo)")] = None,
    return_area: Annotated[bool, typer.Option("--return-area/--no-return-area")] = True,
    data_open: Annotated[bool, typer.Option("--data-open/--no-data-open")] = True,
    database: Db = None,
) -> None:
    """File a return site (replaces an earlier filing of the same customs and operator)."""
    from cbec.store import connect
    from cbec.store import export_returns as repo

    start = _date(valid_from, "--from")
    assert start is not None
    site = repo.Site(
        customs, operator, name, start, _date(valid_to, "--to"), loct_no, True, return_area, data_open
    )
    engine = connect(database)
    try:
        with engine.begin() as conn:
            repo.file_site(conn, site, by="cli")
    except repo.SiteError as err:
        console.print(f"[red]{err.zh} / {err.en}[/red]")
        raise typer.Exit(2) from None
    console.print(f"filed / 已备案: {customs} {operator} {name}")


@app.command("load")
def load_cmd(path: Annotated[Path, typer.Argument(help="CSV of sites")], database: Db = None) -> None:
    """File every site of a CSV, all or nothing."""
    from cbec.store import connect
    from cbec.store import export_returns as repo

    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sites = []
    for row in rows:
        start = _date(row.get("valid_from"), "valid_from")
        if start is None:
            console.print("[red]valid_from 不能为空 / valid_from is required[/red]")
            raise typer.Exit(2)
        sites.append(
            repo.Site(
                row["customs_code"],
                row["operator_code"],
                row.get("name") or row["operator_code"],
                start,
                _date(row.get("valid_to"), "valid_to"),
                row.get("loct_no") or None,
                True,
                _yes(row.get("return_area")),
                _yes(row.get("data_open")),
            )
        )
    engine = connect(None if database is None else database)
    try:
        with engine.begin() as conn:
            for site in sites:
                repo.file_site(conn, site, by="cli")
    except repo.SiteError as err:
        console.print(f"[red]{err.zh} / {err.en}[/red]")
        raise typer.Exit(2) from None
    console.print(f"filed / 已备案: {len(sites)}")


@app.command("list")
def list_cmd(database: Db = None) -> None:
    """The filed return sites, as JSON."""
    from cbec.store import connect
    from cbec.store import export_returns as repo

    with connect(database).connect() as conn:
        _print(repo.sites(conn))


@app.command("history")
def history_cmd(
    invt_no: Annotated[str, typer.Argument(help="original export list number")], database: Db = None
) -> None:
    """The return applications of one export list: lines, tax outcome, tallies, master bill (JSON)."""
    from cbec.store import connect
    from cbec.store import export_returns as repo

    with connect(database).connect() as conn:
        _print(repo.history(conn, invt_no))


@app.command("bill")
def bill_cmd(bill_no: Annotated[str, typer.Argument(help="master bill number")], database: Db = None) -> None:
    """The parcels of a consolidated return master bill (退货合包) and their tally status, as JSON."""
    from cbec.store import connect
    from cbec.store import export_returns as repo

    with connect(database).connect() as conn:
        _print(repo.master_bill(conn, bill_no))


imports = typer.Typer(
    help="Import returns (CEB625): goods back at the original site within 45 days (A-2020-45).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@imports.command("goods-back")
def goods_back_cmd(
    return_guid: Annotated[str, typer.Argument(help="guid of the accepted CEB625 return application")],
    at: Annotated[str, typer.Option("--at", help="when the goods arrived, YYYY-MM-DDTHH:MM:SS (UTC)")],
    by: Annotated[str, typer.Option(help="who reports it (site operator code or officer)")] = "cli",
    note: Annotated[str | None, typer.Option(help="free text")] = None,
    database: Db = None,
) -> None:
    """Record that an import return's goods are back at the original site, zone or B-centre."""
    from datetime import datetime

    from cbec.params.dated import default_parameters
    from cbec.store import connect
    from cbec.store import goods_back as repo

    try:
        back_at = datetime.fromisoformat(at)
    except ValueError:
        console.print(
            f"[red]--at 须为 YYYY-MM-DDTHH:MM:SS / --at must be YYYY-MM-DDTHH:MM:SS, got {at!r}[/red]"
        )
        raise typer.Exit(2) from None
    try:
        with connect(database).begin() as conn:
            done = repo.record_goods_back(
                conn, return_guid=return_guid, back_at=back_at, by=by, params=default_parameters(), note=note
            )
    except repo.GoodsBackError as err:
        console.print(f"[red]{err.zh} / {err.en}[/red]")
        raise typer.Exit(2) from None
    _print(
        {
            "return_guid": done.return_guid,
            "deadline": done.deadline.isoformat(),
            "on_time": done.on_time,
            "recorded": done.recorded,
        }
    )


@imports.command("overdue")
def overdue_cmd(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Beijing date, YYYY-MM-DD (default: today)")
    ] = None,
    database: Db = None,
) -> None:
    """Accepted import returns whose goods were not back within 45 days of release, as JSON."""
    from datetime import UTC, datetime

    from cbec.params.dated import default_parameters
    from cbec.rules.lifecycle import customs_date
    from cbec.store import connect
    from cbec.store import goods_back as repo

    day = _date(as_of, "--as-of") or customs_date(datetime.now(UTC))
    with connect(database).connect() as conn:
        _print(repo.overdue(conn, day, default_parameters()))
