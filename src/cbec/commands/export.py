"""``cbec export true-up INVTNO GNUM --kind … --qty … --event-id …``: the 9810 pre-refund true-up.

A 9810 line flagged ``HWC-YT`` got its provisional export refund at departure (离境即退税); afterwards the
enterprise reports what was sold (the refund stands) and what came back unsold (its share is repaid).  The
``--event-id`` makes the report idempotent: the same id again records nothing and prints the line as it is.
Exit 0 on success, 2 with the reason in 中文 and English when the report is refused (nothing is written).
The HTTP form is ``POST /v1/exports/{invtNo}/lines/{gnum}/true-up`` (docs/exports.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["app", "true_up_json"]

app = typer.Typer(
    help="Exports (出口): the 9810 pre-refund true-up (离境即退税核销).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)


def true_up_json(result: Any) -> dict[str, Any]:
    """A true-up result as the API and ``--json`` show it (amounts in fen and as CNY text)."""
    line = result.line
    return {
        "recorded": result.recorded,
        "repayFen": result.repay_fen,
        "line": {
            "invtNo": line.invt_no,
            "gnum": line.gnum,
            "gcode": line.gcode,
            "qty": str(line.qty),
            "sold": str(line.sold),
            "returned": str(line.returned),
            "open": str(line.open_qty),
            "status": line.status,
            "valueFen": line.value_fen,
            "refundRateBp": line.refund_rate_bp,
            "provisionalFen": line.provisional_fen,
            "repaidFen": line.repaid_fen,
            "refundKeptFen": line.refund_kept_fen,
        },
    }


@app.command("true-up")
def true_up(
    invt_no: Annotated[str, typer.Argument(help="the list number (invtNo)")],
    gnum: Annotated[int, typer.Argument(help="the list line (gnum)")],
    kind: Annotated[
        Literal["sold", "returned"], typer.Option("--kind", help="sold, or returned unsold (退回未售)")
    ],
    qty: Annotated[str, typer.Option("--qty", help="quantity, in the line's unit")],
    event_id: Annotated[str, typer.Option("--event-id", help="your id of this report (idempotency key)")],
    database: Annotated[
        str | None,
        typer.Option("--database", "--db", help="database URL (default: $CBEC_DATABASE_URL or var/cbec.db)"),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="who records it (经办人)")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Record a sale or an unsold return against a pre-refunded 9810 list line (idempotent by event id)."""
    from cbec.engine import prerefund
    from cbec.store.db import connect

    try:
        amount = Decimal(qty)
    except InvalidOperation:
        _err.print(f"[red]数量无效：{escape(qty)} / not a quantity: {escape(qty)}[/red]", highlight=False)
        raise typer.Exit(2) from None
    engine = connect(database)
    try:
        with engine.begin() as conn:
            result = prerefund.record(
                conn,
                event_id=event_id,
                invt_no=invt_no,
                gnum=gnum,
                kind=kind,
                qty=amount,
                by=by,
                at=datetime.now(UTC),
            )
    except prerefund.TrueUpError as exc:
        _err.print(f"[red]{escape(exc.zh)} / {escape(exc.en)}[/red]", highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    body = true_up_json(result)
    if as_json:
        _out.print_json(json.dumps(body, ensure_ascii=False))
        return
    line = body["line"]
    _out.print(
        ("已记录 recorded" if result.recorded else "已记录过，未作更改 already recorded, nothing changed")
        + f": {invt_no} #{gnum} {kind} {qty}; 应退还 repay {result.repay_fen / 100:.2f} CNY",
        highlight=False,
    )
    _out.print(
        f"  数量 qty {line['qty']} · 已售 sold {line['sold']} · 退回 returned {line['returned']} · "
        f"未结 open {line['open']} · 预退 provisional {(line['provisionalFen'] or 0) / 100:.2f} · "
        f"保留 kept {line['refundKeptFen'] / 100:.2f} CNY",
        highlight=False,
    )
