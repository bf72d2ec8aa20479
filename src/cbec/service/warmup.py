"""Make a starting service as quick as a running one before it takes its first message.

A fresh process pays once for what it caches: the checks of each entity and the code tables, the parser,
the database connections and their settings, the statements of the key look-up, each route's handler.  Paid
inside the first requests, that made the first messages after every start (or restart after a crash)
several times slower than the rest: in ``bench/api`` the first burst of eight took 170–300 ms against
30–110 ms a moment later, and they were most of its p99.  ``cbec serve`` runs this before it answers
``/health`` and takes no request until it is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

import httpx
from lxml import etree
from sqlalchemy import Engine, text
from starlette.types import ASGIApp

from cbec.messages.spec import CEB_NS, catalogue
from cbec.service.intake import read_bodies
from cbec.store import enterprises

log = logging.getLogger("cbec.service.warmup")


def skeleton(message_type: str) -> bytes:
    """A message of the type with one empty document (and one empty line): every entity of it is walked
    and checked, and refused at once, which is all a warm-up needs."""
    spec = catalogue().messages[message_type]
    root = etree.Element(f"{{{CEB_NS}}}{spec.root}", nsmap={"ceb": CEB_NS}, guid="0" * 36, version="1.0")
    document = etree.SubElement(root, f"{{{CEB_NS}}}{spec.document}")
    if spec.wrapped:
        etree.SubElement(document, f"{{{CEB_NS}}}{spec.head.name}")
        if spec.lines is not None:
            etree.SubElement(document, f"{{{CEB_NS}}}{spec.lines.name}")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def warm_up(main: Engine | None, *others: Engine | None) -> float:
    """Read a skeleton of every data message type, look up a key, open a connection to each database (the
    main one first, then the spool and the gate journal); returns the seconds it took.

    Nothing here may keep the service from starting: a step that fails is logged and skipped (the request
    that needs it will meet the problem and answer it properly).
    """
    started = time.perf_counter()
    types = [name for name, spec in catalogue().messages.items() if spec.kind == "data"]
    bodies = [(skeleton(t), "application/xml") for t in types]
    _step("decoding", partial(read_bodies, bodies))  # together: the columnar path
    for body in bodies:  # one at a time too: the row path the intake takes for small batches
        _step("decoding", partial(read_bodies, [body]))
    if main is not None:  # the key look-up's statements compiled once, with a key nobody holds
        _step("key look-up", partial(_look_up_key, main))
    for engine in others:
        if engine is not None:
            _step("database", partial(_ping, engine))
    took = time.perf_counter() - started
    log.info("warmed up in %.0f ms (%d message types)", took * 1000, len(types))
    return took


HOT_ROUTES = (("POST", "/v1/messages"), ("POST", "/v1/gate/events"), ("GET", "/v1/receipts"))
"""The requests that arrive by the hundred a second: their handlers are built before the first one comes."""


async def warm_routes(app: ASGIApp) -> None:
    """Send the app, in process, one request it cannot match and one without a key to each hot route.

    FastAPI builds a route's handler (its dependencies, its request and response models) the first time a
    request reaches it: about 100 ms that the first requests after a start would wait for.  Answers here are
    404 and 401; nothing is stored.
    """
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cbec-warm-up") as client:
            await client.get("/v1/cbec-warm-up-no-such-path")
            for method, path in HOT_ROUTES:
                await client.request(method, path, content=b"", headers={"Content-Type": "application/xml"})
    except Exception:
        log.warning("warm-up of the routes failed; starting anyway", exc_info=True)


def _step(what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.warning("warm-up step %s failed; starting anyway", what, exc_info=True)


def _look_up_key(engine: Engine) -> None:
    with engine.connect() as conn:
        enterprises.resolve_api_key(conn, "cbec-warm-up-no-such-key")


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
