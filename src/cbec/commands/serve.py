"""``cbec serve``: the HTTP service (API + clearing loop + webhook deliverer) on the chosen database.

Several ``cbec serve`` processes may share one PostgreSQL database: all of them take messages in and answer
queries; one at a time clears (a lease in the database), and webhook deliveries are shared out with
``SKIP LOCKED``.  On the embedded SQLite store run one clearing process: ``--processes N`` there adds N − 1
HTTP-only processes that take messages in and answer queries (SQLite lets several processes write, one
transaction at a time), while the first process alone clears and delivers.

Why several HTTP processes: taking a message in (parsing, the format check, the signature, sealing) is
CPU work under one interpreter lock per process, so one process uses at most one core and a burst of
large messages queues behind it.  Each process listens on the same port with a socket of its own
(``SO_REUSEPORT``) and the kernel spreads new connections over them (:mod:`cbec.service.processes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cbec.service.context import ServiceSettings

_out = Console(stderr=True, soft_wrap=True)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    database: Annotated[
        str | None, typer.Option(help="database URL (default: $CBEC_DATABASE_URL or var/cbec.db)")
    ] = None,
    outbox: Annotated[Path | None, typer.Option(help="also write receipt files to this directory")] = None,
    clearing: Annotated[bool, typer.Option(help="run the clearing loop in this process")] = True,
    webhooks: Annotated[bool, typer.Option(help="run the webhook deliverer in this process")] = True,
    verify_signatures: Annotated[
        bool, typer.Option(help="check XML-DSig where the spec requires it (turn off only for tests)")
    ] = True,
    spool: Annotated[
        bool,
        typer.Option(
            help="SQLite: acknowledge messages from the intake spool and commit gate decisions to the gate"
            " journal, both beside the database, so that answers never wait for the clearer's writes"
            " (see docs/service.md)"
        ),
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="HTTP processes sharing the port; the first also clears and delivers (default 1)",
        ),
    ] = 1,
) -> None:
    """Run the platform service: enterprises send CEB messages, read receipts, query parcels."""
    from cbec.service.context import ServiceSettings

    settings = ServiceSettings(
        clearing=clearing,
        webhooks=webhooks,
        outbox=outbox,
        verify_signatures=verify_signatures,
        intake_spool=spool,
        gate_journal=spool,
        warm_up=True,
    )
    app = _app(database, settings)  # the first process's: a bad URL or secret stops here, before any child
    if processes == 1:
        import uvicorn

        _out.print(f"cbec service on http://{host}:{port}  (API docs /docs, OpenAPI /openapi.json)")
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    from cbec.service.processes import serve_processes

    helper = ServiceSettings(
        clearing=False,
        webhooks=False,
        outbox=None,
        verify_signatures=verify_signatures,
        intake_spool=spool,
        gate_journal=spool,
        warm_up=True,
    )
    _out.print(
        f"cbec service on http://{host}:{port} in {processes} processes"
        "  (API docs /docs, OpenAPI /openapi.json)"
    )
    try:
        serve_processes(
            app, host=host, port=port, processes=processes, log_level=log_level, child=(database, helper)
        )
    except (RuntimeError, OSError) as exc:  # a child that did not start, a port in use: one line
        _out.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _app(database: str | None, settings: ServiceSettings) -> FastAPI:
    """The service's application on its own engine, or a one-line error (no traceback) and exit 2."""
    from cbec.service.app import create_app
    from cbec.store.db import connect

    try:
        engine = connect(database, background_checkpoints=True)
    except Exception as exc:  # a bad URL or an unreachable server: one line, no traceback
        _out.print(f"[red]cannot open the database / 无法打开数据库: {exc}[/red]")
        raise typer.Exit(2) from None
    try:
        return create_app(engine, settings=settings)
    except RuntimeError as exc:  # a secret or key not configured: say which, no traceback
        _out.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def worker(
    database: Annotated[
        str | None, typer.Option(help="database URL (default: $CBEC_DATABASE_URL or var/cbec.db)")
    ] = None,
    outbox: Annotated[Path | None, typer.Option(help="also write receipt files to this directory")] = None,
    webhooks: Annotated[bool, typer.Option(help="also deliver webhooks")] = True,
    nice: Annotated[
        int, typer.Option(min=0, max=19, help="lower this process's CPU priority (the API answers first)")
    ] = 0,
    gather: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=30.0,
            help="under steady traffic start a batch at most every this many seconds (fewer, larger steps)",
        ),
    ] = 0.5,  # ClearingOptions.gather (not imported here: this module loads with every cbec command)
) -> None:
    """Clear what the service stored and deliver webhooks, without serving HTTP (beside ``cbec serve``)."""
    import signal
    import threading

    from cbec.params import default_parameters
    from cbec.params.hs import load_cbec_hs
    from cbec.service.clearing import ClearingLoop, ClearingOptions
    from cbec.service.webhooks import Deliverer
    from cbec.store.checkpoints import Checkpointer
    from cbec.store.db import connect

    if nice:
        import os

        os.nice(nice)  # clearing is asynchronous; acknowledging a message is what senders wait for
    try:
        engine = connect(database, background_checkpoints=True)
    except Exception as exc:
        _out.print(f"[red]cannot open the database / 无法打开数据库: {exc}[/red]")
        raise typer.Exit(2) from None
    from cbec.engine.buyer_key import secret_for
    from cbec.store.data_key import keyring_for

    try:  # the secrets every clearing process needs, checked before the loop starts
        secret_for(engine)
        keyring_for(engine)
    except RuntimeError as exc:
        _out.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    loop = ClearingLoop(
        engine,
        params=default_parameters(),
        hs=load_cbec_hs(),
        outbox=outbox,
        options=ClearingOptions(gather=gather),
    )
    jobs: list[ClearingLoop | Deliverer | Checkpointer] = [loop, Checkpointer(engine)]
    if webhooks:
        jobs.append(Deliverer(engine))
    threads = [threading.Thread(target=job.run, name=type(job).__name__, daemon=True) for job in jobs]

    def stop(_signum: int, _frame: object) -> None:
        for job in jobs:
            job.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for thread in threads:
        thread.start()
    _out.print("cbec worker: clearing" + (" and webhooks" if webhooks else "") + " (Ctrl-C to stop)")
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
