"""``cbec ledger``: operate a zone's bonded e-ledger (账册) — file it, move stock, count it, reconcile it.

* ``file EMSNO --area-code … --customs …`` files a ledger with its zone warehousing enterprise (a filed site
  operator) and customs district;
* ``entry EMSNO ENTRYNO ITEM=QTY[/QTY2][:GCODE:UNIT1[/UNIT2][:NAME]] …`` records first-line entry (一线入区);
  new items are filed with their HS code and legal units on the way; held lists the stock now covers are
  released (``/QTY2``: the second legal quantity, required for an item filed with a second unit);
* ``transfer FROM TO NUMBER ITEM=QTY …`` moves stock between zones (流转);
* ``dispose EMSNO trade|reexport|destroy NUMBER ITEM=QTY …`` takes stock out (内销 / 退运 / 销毁);
* ``adjust EMSNO APPROVAL ITEM=±QTY[/±QTY2] … --reason …`` records an approved adjustment;
* ``show EMSNO`` shows balances, recent movements and held lists;
* ``stocktake EMSNO counts.csv`` records counted quantities (CSV columns ``itemRecordNo,qty``);
* ``reconcile EMSNO [--xlsx F] [--csv F]`` compares book and count per item with the movements since the
  previous stocktake.

Register with ``app.add_typer(ledger.app, name="ledger")``.  Exit 0 on success; 2 with a one-line reason in
中文 and English when the operation is refused (nothing is changed then).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Bonded e-ledgers (保税账册): stock, movements, stocktakes, reconciliation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)
_DB_HELP = "database URL (default: $CBEC_DATABASE_URL or var/cbec.db)"
Database = Annotated[str | None, typer.Option("--database", "--db", help=_DB_HELP)]
Actor = Annotated[str, typer.Option("--by", help="who records it (经办人)")]
Lines = Annotated[
    list[str],
    typer.Argument(
        help="ITEM=QTY[/QTY2], or ITEM=QTY[/QTY2]:GCODE:UNIT1[/UNIT2][:NAME] for a new item "
        "(QTY2: second legal quantity, for items with a second unit)"
    ),
]


def _run(database: str | None, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction; a refusal rolls it back and exits 2 with its reason."""
    from cbec.store.db import connect
    from cbec.store.ledgers import LedgerError

    engine = connect(database)
    try:
        with engine.begin() as conn:
            return work(conn)
    except LedgerError as e:
        _err.print(f"[red]{escape(e.zh)} / {escape(e.en)}[/red]", highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


def _moved(out: object) -> None:
    from cbec.engine.ledger import MoveOutcome

    assert isinstance(out, MoveOutcome)
    _out.print(f"登记变动 movements recorded: {out.movements}")
    if out.released:
        _out.print(f"因库存补足放行的清单 lists released now that stock arrived: {len(out.released)}")
        for key in out.released:
            _out.print(f"  {escape(key)}")


@app.command("file")
def file_(
    ems_no: Annotated[str, typer.Argument(help="ledger number (账册编号 emsNo)")],
    area_code: Annotated[str, typer.Option(help="zone warehousing enterprise (区内企业 areaCode)")],
    customs: Annotated[str, typer.Option(help="4-digit customs district the ledger is kept with")],
    by: Actor = "cli",
    database: Database = None,
) -> None:
    """File a ledger (账册备案)."""
    from cbec.engine import ledger as E

    led = _run(
        database,
        lambda c: E.file_ledger(c, ems_no=ems_no, area_code=area_code, customs_code=customs, filed_by=by),
    )
    _out.print(f"账册已备案 ledger filed: {led.ems_no} ({escape(led.area_name)}, {led.customs_code})")


@app.command()
def entry(
    ems_no: str,
    entry_no: Annotated[str, typer.Argument(help="first-line declaration number (进境备案清单/报关单号)")],
    lines: Lines,
    by: Actor = "cli",
    database: Database = None,
) -> None:
    """First-line entry of bulk stock (一线入区)."""
    from cbec.engine import ledger as E

    _moved(_run(database, lambda c: E.entry(c, ems_no, entry_no, E.parse_lines(lines), actor=by, at=_now())))


@app.command()
def transfer(
    from_ems: str,
    to_ems: str,
    number: Annotated[str, typer.Argument(help="transfer document number (流转单号)")],
    lines: Lines,
    by: Actor = "cli",
    database: Database = None,
) -> None:
    """Transfer stock between zones (流转)."""
    from cbec.engine import ledger as E

    _moved(
        _run(
            database,
            lambda c: E.transfer(c, from_ems, to_ems, number, E.parse_lines(lines), actor=by, at=_now()),
        )
    )


@app.command()
def dispose(
    ems_no: str,
    how: Annotated[str, typer.Argument(help="trade (内销) | reexport (退运/复出口) | destroy (销毁)")],
    number: Annotated[str, typer.Argument(help="the disposal's document number")],
    lines: Lines,
    note: Annotated[str | None, typer.Option(help="remark")] = None,
    by: Actor = "cli",
    database: Database = None,
) -> None:
    """Take unsaleable stock out of the ledger (处置)."""
    from cbec.engine import ledger as E

    _moved(
        _run(
            database,
            lambda c: E.dispose(c, ems_no, how, number, E.parse_lines(lines), actor=by, at=_now(), note=note),
        )
    )


@app.command()
def adjust(
    ems_no: str,
    approval: Annotated[str, typer.Argument(help="approval number (核准文号)")],
    lines: Annotated[list[str], typer.Argument(help="ITEM=±QTY[/±QTY2]")],
    reason: Annotated[str, typer.Option(help="why (原因)")],
    by: Actor = "cli",
    database: Database = None,
) -> None:
    """Record an approved adjustment (核准调整)."""
    from cbec.engine import ledger as E

    _moved(
        _run(
            database,
            lambda c: E.adjust(c, ems_no, approval, E.parse_lines(lines), actor=by, at=_now(), reason=reason),
        )
    )


@app.command()
def show(
    ems_no: str,
    movements: Annotated[int, typer.Option(help="how many recent movements")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    database: Database = None,
) -> None:
    """Balances, recent movements and held lists of a ledger."""
    from cbec.engine import ledger as E

    view = _run(database, lambda c: E.ledger_view(c, ems_no, movements=movements))
    if as_json:
        _out.print_json(json.dumps(view, ensure_ascii=False))
        return
    head = view["ledger"]
    _out.print(f"账册 ledger {head['emsNo']} — {escape(str(head['areaName']))} ({head['customsCode']})")
    t = Table("料号 item", "品名 name", "商品编码 HS", "单位 unit", "余额 balance", title="库存 stock")
    for it in view["items"]:
        t.add_row(it["itemRecordNo"], escape(it["name"]), it["gcode"], it["unit1"], it["balance"])
    _out.print(t)
    m = Table("时间 at", "料号 item", "类型 kind", "数量 qty", "单证 document", title="变动 movements")
    for mv in view["movements"]:
        m.add_row(
            str(mv["movedAt"])[:19],
            mv["itemRecordNo"],
            f"{mv['kind_zh']} {mv['kind']}",
            mv["qty"],
            mv["docNo"],
        )
    _out.print(m)
    if view["holds"]:
        h = Table("清单 list", "清单编号 invtNo", "原因 reason", title="暂不放行的清单 held lists")
        for hold in view["holds"]:
            h.add_row(
                escape(hold["listKey"]),
                hold["invtNo"] or "",
                escape(f"{hold['reason_zh']} / {hold['reason_en']}"),
            )
        _out.print(h)


@app.command()
def stocktake(
    ems_no: str,
    counts: Annotated[Path, typer.Argument(help="CSV with the columns itemRecordNo,qty", exists=True)],
    counted_at: Annotated[str | None, typer.Option(help="when counted (ISO 8601; default now)")] = None,
    note: Annotated[str | None, typer.Option(help="remark")] = None,
    by: Actor = "cli",
    database: Database = None,
) -> None:
    """Record a stocktake (盘点) from a CSV of counted quantities."""
    from cbec.engine import ledger as E
    from cbec.store.ledgers import LedgerError

    when = _now()
    if counted_at:
        try:
            when = datetime.fromisoformat(counted_at)
        except ValueError:
            _err.print(f"[red]盘点时间格式错误 / --counted-at {escape(counted_at)!r} is not ISO 8601[/red]")
            raise typer.Exit(2) from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    try:
        counted = E.read_counts(counts.read_text(encoding="utf-8-sig"))
    except LedgerError as e:
        _err.print(f"[red]{escape(e.zh)} / {escape(e.en)}[/red]")
        raise typer.Exit(2) from None
    sid = _run(database, lambda c: E.record_count(c, ems_no, counted, counted_at=when, actor=by, note=note))
    _out.print(f"盘点已登记 stocktake recorded: #{sid}, {len(counted)} items")


@app.command()
def reconcile(
    ems_no: str,
    stocktake_id: Annotated[int | None, typer.Option("--stocktake", help="default: the latest")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="write the reconciliation as Excel")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="write the reconciliation as CSV")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    database: Database = None,
) -> None:
    """Book against counted per item, with the movements since the previous stocktake (对账)."""
    from cbec.engine import ledger as E

    rec = _run(database, lambda c: E.reconcile(c, ems_no, stocktake_id))
    if xlsx is not None:
        E.reconciliation_xlsx(rec, xlsx)
        _out.print(f"Excel: {xlsx}")
    if csv_path is not None:
        csv_path.write_text(E.reconciliation_csv(rec), encoding="utf-8")
        _out.print(f"CSV: {csv_path}")
    data = rec.to_json()
    if as_json:
        _out.print_json(json.dumps(data, ensure_ascii=False))
        return
    t = Table(
        "料号 item", "账面 book", "实盘 counted", "差异 diff", "上次实盘 previous", "期间变动 movements",
        "未解释 unexplained", title=f"对账 reconciliation {ems_no} #{rec.stocktake_id}",
    )  # fmt: skip
    for r in data["items"]:  # type: ignore[attr-defined]
        moves = "; ".join(f"{k} {v}" for k, v in r["movementsSincePrevious"].items())
        prev, unexplained = r["previousCount"] or "—", r["unexplained"] or "—"
        t.add_row(r["itemRecordNo"], r["book"], r["counted"], r["difference"], prev, moves, unexplained)
    _out.print(t)
