"""The ``cbec`` command line: decode, validate, generate, and the quick start.

Every command reports bad input as a result (exit code 2) rather than a traceback, and long work shows a
progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="cbec — cross-border e-commerce (跨境电商) clearance platform.",
)
console = Console(stderr=True)
out = Console(soft_wrap=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _read(path: Path) -> tuple[bytes | None, dict[str, Any] | None]:
    try:
        return path.read_bytes(), None
    except OSError as exc:
        err = {
            "severity": "error",
            "code": "file.unreadable",
            "path": str(path),
            "field": None,
            "message_zh": f"无法读取文件：{exc.strerror}",
            "message_en": f"Cannot read the file: {exc.strerror}",
            "dxp_code": "",
        }
        return None, err


@app.command()
def decode(
    files: Annotated[
        list[Path], typer.Argument(help="CEB XML files (business messages or DxpMsg envelopes)")
    ],
    pretty: Annotated[bool | None, typer.Option("--pretty/--compact", help="indent the JSON")] = None,
) -> None:
    """Decode CEB messages and print them as JSON, one result per file, with warnings and errors."""
    from cbec.messages.decode import decode as decode_bytes

    failed = False
    indent = 2 if (pretty if pretty is not None else len(files) == 1) else None
    for path in files:
        data, err = _read(path)
        if data is None:
            result: dict[str, Any] = {"file": str(path), "messageType": None, "errors": [err], "warnings": []}
        else:
            decoded = decode_bytes(data)
            result = {"file": str(path), **decoded.to_json()}
        if result["errors"]:
            failed = True
            result = {k: v for k, v in result.items() if k != "documents"} | {"decoded": False}
        out.print_json(
            json.dumps(result, ensure_ascii=False, default=str), indent=indent
        ) if indent else print(json.dumps(result, ensure_ascii=False, default=str))
    raise typer.Exit(2 if failed else 0)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="CEB XML files")],
    strict: Annotated[
        bool, typer.Option(help="treat every XSD deviation as an error (writer's standard)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Check messages like the e-port's format check (XSD + field rules) and report like a CEB900 receipt."""
    from cbec.messages.validate import validate as validate_bytes
    from cbec.messages.xsd import xsd_available

    failed = False
    results: list[dict[str, Any]] = []
    for path in files:
        data, err = _read(path)
        if data is None:
            failed = True
            results.append(
                {"file": str(path), "accepted": False, "returnStatus": "-1", "errors": [err], "warnings": []}
            )
            continue
        report = validate_bytes(data, strict=strict)
        failed |= not report.accepted
        results.append(
            {
                "file": str(path),
                "messageType": report.message_type,
                "accepted": report.accepted,
                "xsdChecked": report.xsd_checked,
                **report.receipt_fields(),
                "errors": [f.to_dict() for f in report.errors],
                "warnings": [f.to_dict() for f in report.warnings],
            }
        )
    if as_json:
        print(json.dumps(results if len(results) > 1 else results[0], ensure_ascii=False, indent=2))
    else:
        if not xsd_available():
            console.print("[yellow]official XSDs not found (set CBEC_XSD_DIR): field rules only[/yellow]")
        for r in results:
            verdict = "[green]ACCEPTED 通过[/green]" if r["accepted"] else "[red]REFUSED 退回[/red]"
            out.print(
                f"[bold]{r['file']}[/bold]  {r.get('messageType') or '?'}  {verdict}"
                + ("" if r["accepted"] else f"  returnStatus={r['returnStatus']}")
            )
            if r["errors"] or r["warnings"]:
                table = Table(show_header=True, header_style="bold", expand=False)
                for col in ("", "path", "code", "中文", "English"):
                    table.add_column(col, overflow="fold")
                for f in r["errors"]:
                    table.add_row("[red]E[/red]", f["path"], f["code"], f["message_zh"], f["message_en"])
                for f in r["warnings"]:
                    table.add_row(
                        "[yellow]W[/yellow]", f["path"], f["code"], f["message_zh"], f["message_en"]
                    )
                out.print(table)
    raise typer.Exit(2 if failed else 0)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write messages into")] = Path(
        "out/traffic"
    ),
    parcels: Annotated[int, typer.Option(min=1, help="number of parcels (4 documents each)")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same documents")] = 1,
    day: Annotated[str, typer.Option(help="trading day, YYYY-MM-DD")] = "2026-11-11",
    faults: Annotated[
        bool, typer.Option("--faults/--no-faults", help="plant the default faults (see manifest.csv)")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="processes (default: 2 for 30,000 parcels or more; same output)"),
    ] = None,
    exports: Annotated[
        float,
        typer.Option(
            min=0.0, help="export parcels to add, as a share of --parcels (e.g. 0.3; docs/exports.md)"
        ),
    ] = 0.0,
    returns: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="export-return scenario: export parcels of its main day as a share of --parcels, written to "
            "OUT/returns/<day>/ (clear each day with --now; docs/returns.md)",
        ),
    ] = 0.0,
) -> None:
    """Generate realistic retail-import traffic (CEB311/411/511/621) as CEB XML files, with --exports
    export traffic (CEB303/403/505/603/507/607/605/509, manifest exports-manifest.csv) and with --returns
    export days and their returns (CEB213/215/607, returns-manifest.csv, return-sites.csv)."""
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, generate_corpus

    try:
        start = datetime.combine(date.fromisoformat(day), datetime.min.time())
    except ValueError:
        console.print(f"[red]--day must be YYYY-MM-DD, got {day!r}[/red]")
        raise typer.Exit(2) from None
    config = GeneratorConfig(
        parcels=parcels, seed=seed, day=start, faults=dict(DEFAULT_FAULTS) if faults else {}
    )
    with _progress() as progress:
        task = progress.add_task("generating parcels", total=parcels)
        summary = generate_corpus(
            out_dir, config, progress=lambda n: progress.advance(task, n), workers=workers
        )
    result = {
        "out": str(out_dir),
        "parcels": parcels,
        "files": summary.files,
        "bytes": summary.bytes,
        "seconds": round(summary.seconds, 2),
        "parcels_per_second": round(summary.parcels_per_second),
        "mb_per_second": round(summary.megabytes_per_second, 1),
        "workers": summary.workers,
    }
    if exports > 0:
        from cbec.sim.exports import DEFAULT_EXPORT_FAULTS, ExportConfig, generate_exports, write_exports

        export_config = ExportConfig(
            parcels=max(1, round(parcels * exports)),
            seed=seed,
            day=start.replace(hour=8),
            faults=dict(DEFAULT_EXPORT_FAULTS) if faults else {},
        )
        result["export_parcels"] = export_config.parcels
        result["export_files"] = write_exports(generate_exports(export_config), out_dir)
    if returns > 0:
        from cbec.sim.returns import ReturnConfig, generate_returns, write_returns

        return_config = ReturnConfig(parcels=max(20, round(parcels * returns)), seed=seed, faults=faults)
        result["return_files"] = write_returns(generate_returns(return_config), out_dir / "returns")
    out.print(json.dumps(result, ensure_ascii=False))


def _iter_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*.xml") if p.is_file()) if path.is_dir() else [path]


@app.command()
def quickstart(
    parcels: Annotated[int, typer.Option(min=1, help="parcels to generate (4 documents each)")] = 5000,
    out_dir: Annotated[
        Path, typer.Option("--out", help="where the day's messages, receipts and database go")
    ] = Path("out/quickstart"),
    seed: Annotated[int, typer.Option()] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Generate a day of import traffic (with planted faults), clear it, and check the receipts."""
    import shutil

    from cbec.engine.clear import Clearer, count_inputs, iter_inputs
    from cbec.messages.xsd import validate_bytes, xsd_available
    from cbec.params import default_parameters
    from cbec.params.hs import load_cbec_hs
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
    from cbec.store import connect

    if out_dir.exists():
        shutil.rmtree(out_dir)
    traffic, outbox = out_dir / "traffic", out_dir / "outbox"
    config = GeneratorConfig(parcels=parcels, seed=seed, faults=dict(DEFAULT_FAULTS))
    with _progress() as progress:
        task = progress.add_task("generating parcels", total=parcels)
        write_corpus(traffic, config, progress=lambda n: progress.advance(task, n))
        engine = connect(f"sqlite:///{(out_dir / 'cbec.db').resolve()}")
        clearer = Clearer(
            engine,
            params=default_parameters(),
            hs=load_cbec_hs().frame(),
            outbox=outbox,
            now=config.day.replace(hour=23, minute=59),
        )
        task2 = progress.add_task("clearing messages", total=count_inputs(traffic))
        t0 = time.perf_counter()
        # a small day: decoding in this process beats starting worker processes
        clearer.clear_stream(iter_inputs(traffic), workers=0, progress=lambda n: progress.advance(task2, n))
        clearer.summary.seconds = time.perf_counter() - t0
        xsd_errors = checked = 0
        if xsd_available():
            receipts = sorted(outbox.rglob("*.xml"))[::5]
            task3 = progress.add_task("XSD check of receipts (every 5th)", total=len(receipts))
            for f in receipts:
                xsd_errors += len(validate_bytes(f.read_bytes(), "import"))
                checked += 1
                progress.advance(task3)
    summary = clearer.summary.to_json() | {
        "receipts_xsd_checked": checked,
        "receipts_xsd_errors": xsd_errors,
        "traffic": str(traffic),
        "outbox": str(outbox),
        "database": str(out_dir / "cbec.db"),
        "manifest": str(traffic / "manifest.csv"),
    }
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        table = Table(
            title="cbec quick start — a day of CBEC imports cleared / 一天的跨境进口清单核放",
            show_header=False,
        )
        for k, v in summary.items():
            if isinstance(v, dict | list) and not v:
                continue
            if k == "refusals":
                v = ", ".join(f"{r['rule']} {r['code']}: {r['count']}" for r in v)
            table.add_row(k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v))
        out.print(table)
    raise typer.Exit(0 if xsd_errors == 0 else 1)


@app.command()
def clear(
    path: Annotated[Path, typer.Argument(help="directory or zip of CEB import messages")],
    outbox: Annotated[Path, typer.Option(help="directory the receipts are written to")] = Path("out/outbox"),
    database: Annotated[
        str | None, typer.Option(help="database URL (default: $CBEC_DATABASE_URL or var/cbec.db)")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="messages per batch (4 batches per transaction)")] = 500,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0, help="worker processes that decode and write receipt XML (default: one per core; 0: none)"
        ),
    ] = None,
    now: Annotated[
        str | None, typer.Option(help="clock for expiry and receipts, YYYY-MM-DDTHH:MM:SS")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Clear CEB import messages: match, check, tax, quota, decide, store, and write the receipts."""
    from cbec.engine.clear import Clearer, count_inputs, iter_message_files
    from cbec.engine.pipeline import default_workers
    from cbec.params import default_parameters
    from cbec.params.hs import load_cbec_hs
    from cbec.store.db import connect

    if not path.exists():
        console.print(f"[red]{path} does not exist / 路径不存在[/red]")
        raise typer.Exit(2)
    clock = None
    if now:
        try:
            clock = datetime.fromisoformat(now)
        except ValueError:
            console.print(f"[red]--now must be YYYY-MM-DDTHH:MM:SS, got {now!r}[/red]")
            raise typer.Exit(2) from None
    engine = connect(database)
    clearer = Clearer(
        engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=outbox, now=clock
    )
    t0 = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("clearing messages", total=count_inputs(path))
        clearer.clear_stream(
            iter_message_files(path),  # the decoding workers read the files themselves
            batch_messages=batch,
            workers=default_workers() if workers is None else workers,
            progress=lambda n: progress.advance(task, n),
        )
    clearer.summary.seconds = time.perf_counter() - t0
    summary = clearer.summary.to_json() | {"outbox": str(outbox), "database": str(engine.url)}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title="cbec clear — 清单核放结果", show_header=False)
    for k in (
        "messages",
        "repeated_messages",
        "refused_messages",
        "lists_decided",
        "released",
        "inspection",
        "manual_review",
        "refused",
        "waiting",
        "tax_total",
        "receipts",
        "seconds",
        "parcels_per_s",
        "outbox",
        "database",
    ):
        table.add_row(k, str(summary[k]))
    out.print(table)
    if summary["refusals"] or summary["duplicates"]:
        reasons = Table(title="refusals by rule and code — 退单原因", show_header=True)
        for col in ("rule", "code", "count"):
            reasons.add_column(col)
        for r in summary["refusals"]:
            reasons.add_row(str(r["rule"]), str(r["code"]), str(r["count"]))
        for code, n in summary["duplicates"].items():
            reasons.add_row("D", code, str(n))
        out.print(reasons)
    # other flows count their outcomes under "<flow>.<outcome>" (export.released); import aftercare has none
    flows: dict[str, list[tuple[str, int]]] = {}
    for name, n in sorted(summary["applications"].items()):
        flow, _, outcome = name.partition(".") if "." in name else ("", "", name)
        flows.setdefault(flow, []).append((outcome, n))
    titles = {
        "": "cancellations and returns — 撤单与退货",
        "export": "exports — 出口",
        "warehouse": "warehouse entries — 入库明细",
    }
    for flow, rows in flows.items():
        table = Table(title=titles.get(flow, flow), show_header=True)
        table.add_column("outcome")
        table.add_column("count")
        for outcome, n in rows:
            table.add_row(outcome, str(n))
        out.print(table)


def main() -> None:
    from cbec.privacy.logs import install_log_redaction

    install_log_redaction()  # no ID or phone number in any log line, whoever logs it (docs/privacy.md)
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


def _register_tax() -> None:
    from cbec.commands.tax import tax as tax_command

    app.command(name="tax")(tax_command)


_register_tax()


def _register_aftercare() -> None:
    from cbec.commands.aftercare import close, inspect, review

    app.command(name="review")(review)
    app.command(name="inspect")(inspect)
    app.command(name="close")(close)


_register_aftercare()


def _register_signing() -> None:
    from cbec.commands.signing import keygen, sign, verify

    app.command(name="sign")(sign)
    app.command(name="verify")(verify)
    app.command(name="keygen")(keygen)


_register_signing()


def _register_enterprise() -> None:
    from cbec.commands.enterprise import app as enterprise_app

    app.add_typer(enterprise_app, name="enterprise")


_register_enterprise()


def _register_ledger() -> None:
    from cbec.commands.ledger import app as ledger_app

    app.add_typer(ledger_app, name="ledger")


_register_ledger()


def _register_serve() -> None:
    from cbec.commands.demo import demo
    from cbec.commands.serve import serve, worker

    app.command(name="serve")(serve)
    app.command(name="worker")(worker)
    app.command(name="demo")(demo)


_register_serve()


def _register_gate() -> None:
    from cbec.commands.gate import app as gate_app

    app.add_typer(gate_app, name="gate")


_register_gate()


def _register_summary() -> None:
    from cbec.commands.export import app as export_app
    from cbec.commands.summary import summary

    app.command(name="summary")(summary)
    app.add_typer(export_app, name="export")


_register_summary()


def _register_returns() -> None:
    from cbec.commands.returns import app as returns_app
    from cbec.commands.returns import imports as import_returns_app

    app.add_typer(returns_app, name="return-site")
    app.add_typer(import_returns_app, name="import-return")


_register_returns()

if __name__ == "__main__":
    main()
