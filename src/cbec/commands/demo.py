"""``cbec demo``: the platform running as a service, with a generated day streamed through its HTTP API.

It files the demo enterprises (every platform, e-commerce enterprise, payment and logistics company and
declaring agent of the generator, each with an API key; agents with signing certificates; a customs
officer and an administrator), starts the service on the embedded SQLite store, generates a day of import
traffic with planted faults, POSTs every message as the enterprise that sends it, waits until all is
cleared, prints what happened and the keys to log in with, and keeps the service and its console running
until Ctrl-C (``--exit`` stops at once: tests, CI).
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

_out = Console(highlight=False, soft_wrap=True)
COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")
DOC_GUID = re.compile(rb"<(?:\w+:)?guid>")


def demo(
    parcels: Annotated[
        int, typer.Option(min=1, help="parcels in the generated day (4 documents each)")
    ] = 5000,
    port: Annotated[int, typer.Option(min=1, max=65535, help="port of the service and console")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    folder: Annotated[Path, typer.Option(help="where the demo database, keys and traffic go")] = Path(
        "var/demo"
    ),
    fresh: Annotated[
        bool, typer.Option(help="start from an empty database (else add to the last demo)")
    ] = True,
    clients: Annotated[int, typer.Option(min=1, max=64, help="concurrent HTTP senders")] = 4,
    seed: Annotated[int, typer.Option(help="random seed of the generated day")] = 1,
    exports: Annotated[
        float, typer.Option(min=0.0, max=5.0, help="export parcels to add, as a share of --parcels")
    ] = 0.3,
    returns: Annotated[
        bool, typer.Option(help="after the exports, stream the day's import and export returns")
    ] = True,
    exit_after: Annotated[bool, typer.Option("--exit", help="stop once the day is cleared")] = False,
) -> None:
    """Run cbec as a service, stream a generated day through its API, and leave the console running."""
    import httpx
    import uvicorn
    from sqlalchemy import func, select

    from cbec.engine.clear import iter_inputs
    from cbec.service.app import create_app
    from cbec.service.cast import ADMIN, OFFICER, file_cast, use_signing_dir
    from cbec.service.context import ServiceSettings
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, generate_corpus
    from cbec.sim.ledgers import bonded_demand, file_zone_ledgers, replenish
    from cbec.sim.parties import BONDED_ZONES
    from cbec.store import connect, enterprises
    from cbec.store import ledgers as ledgers_repo
    from cbec.store import spool as spool_repo
    from cbec.store.schema import export_list

    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    engine = connect(f"sqlite:///{folder / 'cbec.db'}", background_checkpoints=True)
    cast = file_cast(engine, folder / "keys")
    use_signing_dir(cast)
    traffic = folder / "traffic"
    if traffic.exists():
        shutil.rmtree(traffic)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_out) as bar:
        task = bar.add_task("generating a day 生成一天的报文", total=parcels)
        generate_corpus(
            traffic,
            GeneratorConfig(parcels=parcels, seed=seed, faults=dict(DEFAULT_FAULTS)),
            lambda n: bar.advance(task, n),
        )
    messages = [data for _name, data in iter_inputs(traffic)]
    # exports (9610/9710/9810) go in after the imports, in the order of a day: the documents, then the
    # sites' arrivals and the master bills, then cancellations and departures (cbec.sim.exports)
    runs = [messages, *_export_runs(round(parcels * exports), seed)] if exports > 0 else [messages]
    # the 1210 zones' bonded ledgers, stocked for the day but for one planted shortage (cbec.sim.ledgers)
    with engine.begin() as conn:
        stocking = file_zone_ledgers(conn, bonded_demand(messages), at=datetime.now(UTC))
        for zone in BONDED_ZONES:
            cast.keys[zone[2]] = enterprises.issue_api_key(conn, zone[2], label="demo").key

    app = create_app(engine, settings=ServiceSettings(webhooks=True))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="cbec-demo-server", daemon=True)
    thread.start()
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            _out.print(f"[red]the service did not start on {base} (port in use?) / 服务未能启动[/red]")
            raise typer.Exit(2)
        time.sleep(0.05)

    refused: dict[int, int] = {}
    lock = threading.Lock()
    cursor = [0]
    t0 = time.monotonic()
    messages = [m for run in runs for m in run]
    sent = [0, 0]  # messages, documents
    with Progress(*columns, console=_out) as bar:
        task = bar.add_task("sending over HTTP 经API发送", total=len(messages))
        wait = bar.add_task("clearing 清单核放", total=len(messages))
        cleared_before = [0]

        def sender(run: list[bytes]) -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                while True:
                    with lock:
                        i = cursor[0]
                        cursor[0] += 1
                    if i >= len(run):
                        return
                    data = run[i]
                    found = COP.search(data)
                    key = cast.keys.get(found.group(1).decode() if found else "", "")
                    r = http.post(
                        "/v1/messages",
                        content=data,
                        headers={"X-API-Key": key, "Content-Type": "application/xml"},
                    )
                    with lock:
                        if r.status_code != 202:
                            refused[r.status_code] = refused.get(r.status_code, 0) + 1
                    bar.advance(task)

        def send(run: list[bytes]) -> None:
            """Send one run and wait until it is cleared (arrivals after their lists, tallies after their
            return applications …)."""
            cursor[0] = 0
            senders = [threading.Thread(target=sender, args=(run,)) for _ in range(clients)]
            for s in senders:
                s.start()
            for s in senders:
                s.join()
            while True:
                left = spool_repo.unprocessed(engine)  # the intake spool too, where there is one
                bar.update(wait, completed=cleared_before[0] + len(run) - left)
                if left == 0:
                    break
                time.sleep(0.2)
            cleared_before[0] += len(run)
            sent[0] += len(run)
            sent[1] += sum(len(DOC_GUID.findall(m)) for m in run)

        imports, *later = runs
        send(imports)
        # the held lists are counted and replenished once the imports are cleared, before the day's
        # returns: a return of the short item's released list gives its stock back and would release the
        # held one by itself
        with engine.begin() as conn:
            held = len({h.list_key for h in ledgers_repo.open_holds(conn)})
            moved = replenish(conn, stocking, at=datetime.now(UTC))
        for run in later:
            send(run)
        if returns and exports > 0:
            # the day's returns, decided with the service's clock (cbec.sim.returns): import returns of
            # released lists, return master bills and export return applications, then the sites' tallies
            return_runs = _return_runs(engine, messages, seed)
            more = sum(len(r) for r in return_runs)
            bar.update(task, total=len(messages) + more)
            bar.update(wait, total=len(messages) + more)
            for run in return_runs:
                if run:
                    send(run)
        sent_s = time.monotonic() - t0
    total_s = time.monotonic() - t0
    _summary(engine, sent[0], sent[1], refused, sent_s, total_s)
    with engine.connect() as conn:
        by_status: dict[int, int] = dict(
            conn.execute(select(export_list.c.status, func.count()).group_by(export_list.c.status)).all()
        )
    if by_status:
        names = {899: "结关 cleared", 800: "放行 released", 399: "审结 concluded", 120: "入库 accepted",
                 100: "退单/撤销 refused or cancelled", 2: "待齐 waiting"}  # fmt: skip
        _out.print(
            f"出口清单 export lists: {sum(by_status.values())} — "
            + ", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(by_status.items(), reverse=True))
        )
    _returns_summary(engine)
    if stocking.short is not None:
        _out.print(
            f"保税账册 bonded ledgers: {held} lists held (账册料号余额不足, item {stocking.short[1]} of "
            f"{stocking.short[0]}); a replenishment entry (补货入区) released {len(moved.released)}"
        )

    _out.print(f"\n[bold]console 控制台[/bold]: {base}/console    [bold]API docs[/bold]: {base}/docs")
    _out.print("log in with one of these API keys 登录密钥:")
    for label, code in (
        ("customs officer 海关关员", OFFICER),
        ("administrator 管理员", ADMIN),
        ("platform 电商平台 3301960001", "3301960001"),
        ("declaring agent 申报企业 4403960402", "4403960402"),
        ("return site 退货监管场所 3302960701 (Ningbo, cross-district returns)", "3302960701"),
        *((f"zone warehouse 区内仓储企业 {z[2]} (ledger {z[4]})", z[2]) for z in BONDED_ZONES),
    ):
        _out.print(f"  {label}: {cast.keys[code]}")
    if exit_after:
        server.should_exit = True
        thread.join(timeout=30)
        return
    _out.print("Ctrl-C to stop 按 Ctrl-C 停止")
    try:
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(timeout=30)


def _export_runs(parcels: int, seed: int) -> list[list[bytes]]:
    """The export day as runs of messages to send one after the other (see :mod:`cbec.sim.exports`)."""
    from cbec.sim.exports import ExportConfig, generate_exports

    if parcels < 1:
        return []
    phase = {"303": 0, "403": 0, "505": 0, "603": 0, "507": 1, "607": 1, "605": 2, "509": 3}
    runs: list[list[bytes]] = []
    last = -1
    for name, xml in generate_exports(ExportConfig(parcels=parcels, seed=seed)).messages:
        step = phase.get(name[3:6], 0)
        if step != last:
            runs.append([])
            last = step
        runs[-1].append(xml)
    return runs


def _return_runs(engine: object, messages: list[bytes], seed: int) -> list[list[bytes]]:
    """The returns of the day just cleared, as runs: import returns (CEB625), consolidated return master
    bills (CEB607) and export return applications (CEB213), then the sites' tallies (CEB215)."""
    from sqlalchemy import Engine

    from cbec.sim.returns import day_returns

    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        day = day_returns(conn, messages, datetime.now(UTC), seed=seed)
    # a tally sent before its application would wait for it (CEB216 2); sent after, it is judged at once
    return [day.imports + day.exports.bills + day.exports.applications, day.exports.tallies]


def _returns_summary(engine: object) -> None:
    """The returns by status: import (CEB626), export (CEB214) with the cross-district and consolidated
    ones, tallies (CEB216) — each refusal with its code."""
    from sqlalchemy import Engine, func, select

    from cbec.store.schema import application, export_return, export_return_bill_line, export_return_tally

    assert isinstance(engine, Engine)

    def line(title: str, table: Any, names: dict[int, str], where: Any = None) -> None:
        stmt = select(table.c.status, table.c.code, func.count()).group_by(table.c.status, table.c.code)
        if where is not None:
            stmt = stmt.where(where)
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return
        by_status: dict[int, int] = {}
        codes: dict[str, int] = {}
        for status, code, n in rows:
            by_status[int(status)] = by_status.get(int(status), 0) + n
            if code:
                codes[str(code)] = codes.get(str(code), 0) + n
        text = ", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(by_status.items(), reverse=True))
        if codes:
            text += " (" + ", ".join(f"{c} ×{n}" for c, n in sorted(codes.items())) + ")"
        _out.print(f"{title}: {sum(by_status.values())} — {text}")

    line(
        "进口退货 import returns (CEB625)",
        application,
        {399: "受理 accepted", 100: "退单 refused"},
        application.c.kind == "return",
    )
    line(
        "出口退货 export returns (CEB213)",
        export_return,
        {800: "放行 released", 120: "入库 accepted", 100: "退单 refused"},
    )
    line(
        "退货理货 return tallies (CEB215)",
        export_return_tally,
        {399: "理货 tallied", 2: "待申请 waiting", 100: "退单 refused"},
    )
    with engine.connect() as conn:
        cross = conn.execute(
            select(func.count()).select_from(export_return).where(export_return.c.cross_district.is_(True))
        ).scalar_one()
        bills = conn.execute(
            select(func.count(func.distinct(export_return_bill_line.c.bill_no)), func.count()).select_from(
                export_return_bill_line
            )
        ).one()
    if cross or bills[0]:
        _out.print(
            f"  跨关区退货 cross-district returns: {cross}; 退货合包 consolidated: {bills[1]} parcels under "
            f"{bills[0]} master bills"
        )


def _summary(
    engine: object, messages: int, documents: int, refused: dict[int, int], sent_s: float, total_s: float
) -> None:
    from sqlalchemy import Engine, func, select

    from cbec.store.schema import decision, document

    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        latest = (
            select(decision.c.list_key, func.max(decision.c.id).label("id"))
            .group_by(decision.c.list_key)
            .subquery()
        )
        final: dict[int, int] = dict(
            conn.execute(
                select(decision.c.status, func.count())
                .join(latest, decision.c.id == latest.c.id)
                .group_by(decision.c.status)
            ).all()
        )
        codes = conn.execute(
            select(decision.c.code, func.count())
            .join(latest, decision.c.id == latest.c.id)
            .where(decision.c.code.is_not(None))
            .group_by(decision.c.code)
            .order_by(func.count().desc())
        ).all()
        waiting = conn.execute(
            select(func.count())
            .select_from(document)
            .where(document.c.kind == "list", document.c.status == 2)
        ).scalar_one()
    grid = Table(title="the demo day 演示日", show_header=False)
    grid.add_row(
        "messages sent 报文", f"{messages:,} in {sent_s:.1f} s ({messages / max(sent_s, 1e-9):,.0f}/s)"
    )
    grid.add_row("documents 单证", f"{documents:,} ({documents / max(sent_s, 1e-9):,.0f}/s over HTTP)")
    grid.add_row(
        "refused at the door 拒收", ", ".join(f"HTTP {k}: {v}" for k, v in refused.items()) or "none 无"
    )
    names = {
        800: "released 放行",
        100: "rejected 退单",
        300: "manual review 人工审核",
        500: "inspection 查验",
        399: "concluded, not released 审结未放行",
        899: "cleared (exports, departed) 结关",
    }
    for status, n in sorted(final.items()):
        grid.add_row(f"lists {names.get(int(status), str(status))}", f"{n:,}")
    grid.add_row("lists waiting for partners 待对碰", f"{waiting:,}")
    for code, n in codes[:8]:
        grid.add_row(f"  rejected with 退单代码 {code}", f"{n:,}")
    grid.add_row("sent → all cleared 全部核放用时", f"{total_s:.1f} s")
    _out.print(grid)
