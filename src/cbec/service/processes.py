"""Several HTTP processes on one port (``cbec serve --processes N``).

Taking a message in is CPU work (parse, format check, signature, sealing) done under one interpreter lock
per process, so a single process uses one core at most and a burst of large messages waits behind it.  Each
process listens on its own socket bound to the same port with ``SO_REUSEPORT``, and the kernel spreads new
connections over them.  (One socket shared by all was tried first: an event loop that wakes accepts every
waiting connection at once, so eight clients arriving together all went to one process.)  Children are
*spawned*, never
forked: a forked child inherits Polars' thread pool and the parent's database connections in whatever
state they were.  Only the parent clears and delivers webhooks (the children's settings turn both off), so
the embedded SQLite store still has a single clearing process.

A child watches its parent: if the parent dies, even by ``kill -9``, the child stops within a second rather
than serving on alone.  The parent stops its children when it stops (SIGTERM, SIGINT, Ctrl-C).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from cbec._parent import exit_with_parent

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cbec.service.context import ServiceSettings

log = logging.getLogger("cbec.service.processes")

#: How long the parent waits for a child to finish its requests after asking it to stop.
STOP_WAIT_S = 10.0
#: How long the parent waits for the children to listen before it gives up.
READY_WAIT_S = 180.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``port`` that other processes may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def serve_processes(
    app: FastAPI,
    *,
    host: str,
    port: int,
    processes: int,
    log_level: str,
    child: tuple[str | None, ServiceSettings],
) -> None:
    """Serve ``app`` in this process and ``processes - 1`` spawned children on one port, until stopped.

    ``child`` is what a child needs to build its own application: the database URL and its settings.
    """
    import uvicorn

    sock = listening_socket(host, port)
    port = sock.getsockname()[1]  # the port chosen, if 0 was asked for
    context = multiprocessing.get_context("spawn")
    ready = [context.Event() for _ in range(1, processes)]
    children = [
        context.Process(
            target=_child_main,
            args=(host, port, child[0], child[1], log_level, os.getpid(), ready[i - 1]),
            name=f"cbec-http-{i}",
            daemon=False,
        )
        for i in range(1, processes)
    ]
    for process in children:
        process.start()
    # answer nothing before every child listens: a client's first connections would all land here
    deadline = time.monotonic() + READY_WAIT_S
    for process, event in zip(children, ready, strict=True):
        while not event.wait(0.2):
            if not process.is_alive() or time.monotonic() > deadline:
                for other in children:
                    if other.is_alive():
                        other.kill()
                sock.close()
                raise RuntimeError(
                    f"HTTP process {process.name} did not start (exit code {process.exitcode}) / 进程未能启动"
                )

    class _Parent(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            # pass the stop on at once: the children finish their requests while this one does
            # (uvicorn re-raises the signal once it has stopped, which would end this process before
            # the ``finally`` below)
            for process in children:
                if process.pid is not None and process.is_alive():
                    os.kill(process.pid, signal.SIGTERM)
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    try:
        config = uvicorn.Config(app, log_level=log_level, access_log=False)
        _Parent(config).run(sockets=[sock])
    finally:
        for process in children:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in hand, then exits
        deadline = time.monotonic() + STOP_WAIT_S
        for process in children:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        sock.close()


def _child_main(
    host: str,
    port: int,
    database: str | None,
    settings: ServiceSettings,
    log_level: str,
    parent: int,
    ready: Any,
) -> None:
    import uvicorn

    from cbec.service.app import create_app
    from cbec.store.db import connect

    exit_with_parent(parent)
    app = create_app(connect(database, background_checkpoints=True), settings=settings)
    config = uvicorn.Config(app, log_level=log_level, access_log=False)
    sock = listening_socket(host, port)
    ready.set()
    uvicorn.Server(config).run(sockets=[sock])
