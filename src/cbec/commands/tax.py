"""``cbec tax``: the checkout estimate on the command line — the tax of a basket and whether it may be bought.

Register with ``app.command()(tax)``. Exit status: 0 admissible (可以购买), 2 not admissible (不可购买) or bad
input. Bad input is answered with one line naming the option and the problem, never a traceback, because the
people typing this are sellers and support staff checking a price, not developers.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

__all__ = ["tax"]

_ITEM_HELP: Final = (
    "HS10:PRICE:QTY — 10-digit HS code, unit price in CNY, number of items; repeat for each product. "
    "Optionally :QTY1[:QTY2], the line's quantities in the code's legal units (e.g. kg for cosmetics, "
    "L for spirits), which the consumption-tax thresholds and specific taxes need."
)


class _BadInput(Exception):
    """Input the user can fix; the message is shown as is and the command exits 2."""


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _BadInput(f"{what}: {text!r} is not a number") from None
    if not value.is_finite():
        raise _BadInput(f"{what}: {text!r} is not a finite number")
    return value


def _items(specs: list[str]) -> list[tuple[str, Decimal, Decimal, Decimal | None, Decimal | None]]:
    parsed = []
    for spec in specs:
        parts = spec.split(":")
        if not 3 <= len(parts) <= 5:
            raise _BadInput(f"--item {spec!r}: expected HS10:PRICE:QTY[:QTY1[:QTY2]], e.g. 3304990029:300:1")
        code = parts[0].strip().replace(".", "")
        if len(code) != 10 or not code.isdigit():
            raise _BadInput(f"--item {spec!r}: the HS code must be 10 digits, got {parts[0]!r}")
        price = _decimal(parts[1], f"--item {spec!r}: price")
        qty = _decimal(parts[2], f"--item {spec!r}: quantity")
        qty1 = _decimal(parts[3], f"--item {spec!r}: qty1") if len(parts) > 3 and parts[3].strip() else None
        qty2 = _decimal(parts[4], f"--item {spec!r}: qty2") if len(parts) > 4 and parts[4].strip() else None
        parsed.append((code, price, qty, qty1, qty2))
    return parsed


def _day(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _BadInput(f"--date must be YYYY-MM-DD, got {text!r}") from None


def _show(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,}"


def tax(
    item: Annotated[
        list[str], typer.Option("--item", "-i", help=_ITEM_HELP, metavar="HS10:PRICE:QTY", show_default=False)
    ],
    freight: Annotated[
        str, typer.Option(help="freight for the whole parcel, CNY (运费)", metavar="CNY")
    ] = "0",
    insurance: Annotated[
        str, typer.Option(help="insurance for the whole parcel, CNY (保费)", metavar="CNY")
    ] = "0",
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="purchase date; the rules in force that day apply (default: today)",
            metavar="YYYY-MM-DD",
        ),
    ] = None,
    used_quota: Annotated[
        str,
        typer.Option("--used-quota", help="the buyer's annual quota already used this year", metavar="CNY"),
    ] = "0",
    tariff: Annotated[
        Path | None,
        typer.Option("--tariff", help="operator tariff CSV on top of the compiled table", metavar="FILE"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Estimate the CBEC comprehensive tax (跨境电商综合税) of a basket and say whether it may be bought."""
    from cbec.params.dated import ParameterError
    from cbec.params.hs import TariffFileError, UnknownHsCode, load_tariff
    from cbec.rules.basket import BasketError, BasketItem, estimate

    errors = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)
    try:
        items = [BasketItem(code, price, qty, qty1, qty2) for code, price, qty, qty1, qty2 in _items(item)]
        day = _day(on)
        table = load_tariff(tariff)
        result = estimate(
            items,
            freight=_decimal(freight, "--freight"),
            insurance=_decimal(insurance, "--insurance"),
            on=day,
            used_quota=_decimal(used_quota, "--used-quota"),
            hs=table,
        )
    except UnknownHsCode as exc:
        errors.print(f"[red]unknown HS code {exc.hs10}: not in the tariff table ({escape(exc.origin)})[/red]")
        raise typer.Exit(2) from None
    except TariffFileError as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    except ParameterError as exc:
        errors.print(f"[red]no CBEC retail-import rule in force: {escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    except (_BadInput, BasketError) as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None

    code = 0 if result.admissible else 2
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        raise typer.Exit(code)

    out = Console(highlight=False, emoji=False)
    if not out.is_terminal:
        out = Console(highlight=False, emoji=False, width=140)
    grid = Table(title=f"CBEC tax estimate 跨境电商综合税估算 — {result.on.isoformat()}", show_lines=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"),
        ("HS", "left"),
        ("name 品名", "left"),
        ("qty", "right"),
        ("dutiable 完税价格", "right"),
        ("duty 关税", "right"),
        ("CT 消费税", "right"),
        ("VAT 增值税", "right"),
        ("payable 应缴", "right"),
    )
    for header, justify in columns:
        grid.add_column(header, justify=justify, overflow="fold")
    for line in result.lines:
        note = f"\n[dim]{', '.join(line.flags)}[/dim]" if line.flags else ""
        grid.add_row(
            str(line.gnum),
            line.hs10,
            escape(line.name_zh or line.name_en) + note,
            f"{line.qty:f}",
            _show(line.dutiable_value),
            _show(line.duty),
            _show(line.ct),
            _show(line.vat),
            _show(line.payable),
        )
    grid.add_section()
    grid.add_row(
        "",
        "",
        "total 合计",
        "",
        _show(result.dutiable_value),
        _show(result.duty),
        _show(result.ct),
        _show(result.vat),
        _show(result.tax_total),
    )
    out.print(grid)
    out.print(
        f"goods 货值 {_show(result.goods_value)} + freight 运费 {_show(result.freight)} + insurance 保费 "
        f"{_show(result.insurance)} = dutiable value 完税价格 {_show(result.dutiable_value)} CNY"
    )
    if result.amount_to_pay is not None:
        out.print(f"to pay 应付合计 (goods + freight + insurance + tax): {_show(result.amount_to_pay)} CNY")
    if result.admissible:
        out.print("[bold green]ADMISSIBLE 可以购买[/bold green]")
    else:
        out.print(f"[bold red]NOT ADMISSIBLE 不可购买[/bold red]  {result.reject_code or ''}".rstrip())
    out.print(result.reason_zh, markup=False)
    out.print(result.reason_en, markup=False)
    out.print(
        f"annual quota 年度限值 {_show(result.annual_limit)}; used 已用 {_show(result.used_quota)}; "
        f"remaining after this purchase 本次购买后剩余 {_show(result.quota_remaining)} CNY"
    )
    if result.flags:
        out.print(
            "[yellow]note: "
            + ", ".join(result.flags)
            + " — the consumption tax rests on an assumption; see docs/tax.md[/yellow]"
        )
    raise typer.Exit(code)
