"""``cbec review``, ``cbec inspect``, ``cbec close``: what happens to an import list after its first decision.

* ``review`` records a manual-review result (人工审核结果) on a list at 300: ``release`` (399 → 800) or
  ``refuse`` (100 with a code; the quota goes back and the tax bill is void);
* ``inspect`` records an inspection result (查验结果) on a list at 500 (or detained):
  ``pass`` (800), ``detain-clearance`` / ``detain-smuggling`` / ``detain-legal`` / ``detain-other``
  (501 / 502 / 503 / 599) or ``return`` (700, returned abroad; quota back, bill void);
* ``close`` closes (结关, 899) the released lists whose return window has passed.

Each writes the receipts into the outbox table in the same transaction and then, with ``--outbox DIR``, as
files.
Register with ``app.command()(review)`` etc.  Exit status 0 on success; 2 with a one-line reason in 中文 and
English when the move is not allowed or the input is bad (nothing is changed then).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cbec.rules.lifecycle import CHINA, LifecycleError

__all__ = ["close", "inspect", "review"]

_err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the terminal width
_DB_HELP = "database URL (default: $CBEC_DATABASE_URL or var/cbec.db)"
_OUTBOX_HELP = (
    "directory to write the receipts to; without it they stay queued in the database's outbox "
    "(the next `cbec clear` with --outbox, or any delivery worker, sends them)"
)


def _fail(zh: str, en: str) -> typer.Exit:
    _err.print(f"[red]{zh} / {en}[/red]")
    return typer.Exit(2)


def _moment(text: str | None, option: str) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            f"{option} 须为 YYYY-MM-DDTHH:MM:SS", f"{option} must be YYYY-MM-DDTHH:MM:SS, got {text!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _officer_result(
    kind: str,
    *,
    database: str | None,
    invt_no: str | None,
    list_key: str | None,
    result: str,
    officer: str,
    reason_zh: str | None,
    reason_en: str | None,
    code: str | None,
    at: str | None,
    outbox: Path | None,
    as_json: bool,
) -> None:
    from cbec.engine.lists import deliver
    from cbec.engine.review import record_result
    from cbec.store.db import connect

    when = _moment(at, "--at")
    engine = connect(database)
    try:
        with engine.begin() as conn:
            outcome = record_result(
                conn,
                kind=kind,
                result=result,
                officer=officer,
                at=when,
                list_key=list_key,
                invt_no=invt_no,
                reason_zh=reason_zh,
                reason_en=reason_en,
                code=code,
            )
    except LifecycleError as exc:
        raise _fail(exc.zh, exc.en) from None
    delivered = deliver(engine, outbox)
    report = outcome.to_json() | {"delivered": delivered, "outbox": str(outbox) if outbox else None}
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"{outcome.invt_no or outcome.list_key}: {outcome.from_status} → {outcome.to_status} "
            f"({kind} {result}); receipts {outcome.receipts}, "
            f"quota given back {-outcome.quota_fen / 100:.2f}, tax voided {-outcome.tax_fen / 100:.2f} CNY"
        )


def review(
    result: Annotated[str, typer.Option(help="release (放行) or refuse (退单)")],
    officer: Annotated[str, typer.Option(help="the officer recording the result (经办关员)")],
    invt_no: Annotated[str | None, typer.Option("--invt-no", help="customs list number (清单编号)")] = None,
    list_key: Annotated[str | None, typer.Option("--list-key", help="list key ebpCode|orderNo")] = None,
    reason_zh: Annotated[str | None, typer.Option("--reason-zh", help="reason in Chinese (原因)")] = None,
    reason_en: Annotated[str | None, typer.Option("--reason-en", help="reason in English")] = None,
    code: Annotated[
        str | None, typer.Option(help="business error code of a refusal (default -621003)")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="time of the result, YYYY-MM-DDTHH:MM:SS (UTC; default now)")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    outbox: Annotated[Path | None, typer.Option(help=_OUTBOX_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Record a manual-review result (人工审核) on a list at 300: release or refuse it."""
    _officer_result(
        "review",
        database=database,
        invt_no=invt_no,
        list_key=list_key,
        result=result,
        officer=officer,
        reason_zh=reason_zh,
        reason_en=reason_en,
        code=code,
        at=at,
        outbox=outbox,
        as_json=as_json,
    )


def inspect(
    result: Annotated[
        str,
        typer.Option(help="pass, detain-clearance, detain-smuggling, detain-legal, detain-other or return"),
    ],
    officer: Annotated[str, typer.Option(help="the officer recording the result (经办关员)")],
    invt_no: Annotated[str | None, typer.Option("--invt-no", help="customs list number (清单编号)")] = None,
    list_key: Annotated[str | None, typer.Option("--list-key", help="list key ebpCode|orderNo")] = None,
    reason_zh: Annotated[str | None, typer.Option("--reason-zh", help="reason in Chinese (原因)")] = None,
    reason_en: Annotated[str | None, typer.Option("--reason-en", help="reason in English")] = None,
    at: Annotated[
        str | None, typer.Option(help="time of the result, YYYY-MM-DDTHH:MM:SS (UTC; default now)")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    outbox: Annotated[Path | None, typer.Option(help=_OUTBOX_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Record an inspection result (查验) on a list at 500 or detained: pass, detain or return abroad."""
    _officer_result(
        "inspection",
        database=database,
        invt_no=invt_no,
        list_key=list_key,
        result=result,
        officer=officer,
        reason_zh=reason_zh,
        reason_en=reason_en,
        code=None,
        at=at,
        outbox=outbox,
        as_json=as_json,
    )


def close(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Beijing date YYYY-MM-DD to close as of (default today)")
    ] = None,
    now: Annotated[str | None, typer.Option(help="clock for the receipts, YYYY-MM-DDTHH:MM:SS (UTC)")] = None,
    database: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    outbox: Annotated[Path | None, typer.Option(help=_OUTBOX_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Close (结关, 899) released lists whose return window has passed; running it again changes nothing."""
    from cbec.engine.closing import close_lists
    from cbec.engine.lists import deliver
    from cbec.params import default_parameters
    from cbec.store.db import connect

    clock = _moment(now, "--now")
    if as_of is None:
        day = clock.astimezone(CHINA).date()
    else:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise _fail("--as-of 须为 YYYY-MM-DD", f"--as-of must be YYYY-MM-DD, got {as_of!r}") from None
    engine = connect(database)
    with engine.begin() as conn:
        summary = close_lists(conn, as_of=day, now=clock, params=default_parameters())
    delivered = deliver(engine, outbox)
    report = summary.to_json() | {"delivered": delivered, "outbox": str(outbox) if outbox else None}
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"as of {day.isoformat()}: {report['closed']} lists closed (结关), "
            f"{report['skipped_open_return']} left open for a pending return; receipts {report['receipts']}"
        )
