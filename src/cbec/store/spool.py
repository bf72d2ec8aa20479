"""The intake spool (SQLite only): acknowledged messages on their way into the inbox.

SQLite has one writer per database file.  The clearing loop's write transaction (documents, decisions,
receipts, quota, tax bills of a batch: 40–100 ms on the 2-core VM) would make every acknowledgement that
arrives meanwhile wait for it, and that wait was most of the API's tail latency.  So the API stores what it
accepts in a second, small database file beside the main one (``<db>.intake``), whose lock only the API
processes and the mover share, and the clearing process moves the spooled messages into the inbox in its
own transaction, just before it takes them for clearing.

Guarantees, the same as writing the inbox directly:

* **stored before acknowledged**: the spool row is committed (sealed: compressed and encrypted with the
  data key, like the inbox) before the 202 goes out;
* **idempotent on guid**: a guid is looked up in the spool, then in the inbox, while the spool's write lock
  is held.  The mover deletes a spool row only after the inbox row is committed, so a guid missing from the
  spool at that moment is either in the inbox already or new;
* **the inbox id is the one acknowledged**: a spooled message reserves the id it will have in the inbox
  (one above the highest of both), and the mover inserts it with that id;
* **nothing lost, nothing twice**: a crash between the inbox commit and the spool delete leaves a row that
  the next move finds in the inbox already (same guid, same digest) and just deletes.

PostgreSQL needs none of this (concurrent inserts do not wait for the clearer), nor does an in-memory
database (one process).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    Text,
    delete,
    func,
    select,
)

from cbec.store._common import Outcome, chunks
from cbec.store.checkpoints import Checkpointer
from cbec.store.db import SQLITE_BEGIN, SQLITE_POLL_LOCK, beside_database, connect, driver_cursor
from cbec.store.inbox import SEALED_CODECS, AcceptOutcome, InboxItem, accept, pending_count
from cbec.store.schema import inbox, message_subscriber

SUFFIX = ".intake"

_meta = MetaData()
spooled = Table(
    "spooled",
    _meta,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # the inbox id it will have
    Column("guid", String(64), nullable=False, unique=True),
    Column("message_type", String(32), nullable=False),
    Column("sender", String(32)),
    Column("dxp_id", String(64)),
    Column("received_at", String(40), nullable=False),  # ISO 8601 with offset
    Column("sha256", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("raw_codec", String(16), nullable=False),
    Column("subscribers", Text, nullable=False),  # JSON {dxpAddress: ALL|DATA|RET}
)


def spool_path(main_url: str) -> Path | None:
    """Where the spool of a database lives: beside a SQLite file; None for PostgreSQL or in-memory."""
    return beside_database(main_url, SUFFIX)


def open_spool(main_url: str) -> Engine | None:
    """The spool's engine (created on first use), or None where the database needs no spool."""
    path = spool_path(main_url)
    return None if path is None else _engine_at(path)


def _engine_at(path: Path) -> Engine:
    engine = connect(f"sqlite:///{path}", create=False, background_checkpoints=True)
    with engine.begin() as conn:
        _meta.create_all(conn)
    return engine


@dataclass(frozen=True, slots=True)
class Spooled:
    item: InboxItem
    subscribers: dict[str, str]


def put(spool: Engine, main: Engine, entries: Sequence[Spooled]) -> list[AcceptOutcome]:
    """Store the messages in the spool and commit; for each, in order: new, repeat or conflict.

    A repeat or conflict is judged against the spool and the inbox together, as :func:`inbox.accept`
    judges against the inbox.
    """
    if not entries:
        return []
    digests: list[str] = []
    for entry in entries:
        if entry.item.sha256 is None or entry.item.codec not in SEALED_CODECS:
            raise ValueError(f"{entry.item.guid}: a spooled message is sealed and carries its sha256")
        digests.append(entry.item.sha256)
    # the statements go to the driver's cursors: on the acknowledgement's path, SQLAlchemy's statement
    # building cost more than SQLite's work (a third of the intake thread's time)
    with (
        spool.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as sconn,
        sconn.begin(),
        driver_cursor(sconn) as scur,
    ):
        guids = sorted({e.item.guid for e in entries})
        known = _known(scur, "spooled", guids)
        # read the inbox only now, under the spool's lock: the mover cannot delete a row meanwhile
        with (
            main.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as mconn,
            mconn.begin(),
            driver_cursor(mconn) as mcur,
        ):
            known.update(_known(mcur, inbox.name, [g for g in guids if g not in known]))
            top_inbox = int(mcur.execute(f'SELECT coalesce(max(id), 0) FROM "{inbox.name}"').fetchone()[0])
        top = max(top_inbox, int(scur.execute("SELECT coalesce(max(id), 0) FROM spooled").fetchone()[0]))
        outcomes: list[AcceptOutcome] = []
        new_rows = []
        for index, (entry, digest) in enumerate(zip(entries, digests, strict=True)):
            item = entry.item
            if item.guid in known:
                id_, sha = known[item.guid]
                outcome = Outcome.REPEAT if sha == digest else Outcome.CONFLICT
                outcomes.append(AcceptOutcome(index, item.guid, outcome, id_))
                continue
            top += 1
            known[item.guid] = (top, digest)
            outcomes.append(AcceptOutcome(index, item.guid, Outcome.NEW, top))
            received = item.received_at or datetime.now(UTC)
            new_rows.append(
                (
                    top,
                    item.guid,
                    item.message_type,
                    item.sender,
                    item.dxp_id,
                    received.astimezone(UTC).isoformat(),
                    digest,
                    item.raw,
                    item.codec,
                    json.dumps(entry.subscribers, ensure_ascii=False),
                )
            )
        if new_rows:
            scur.executemany(_INSERT, new_rows)
    return outcomes


_COLUMNS = [c.name for c in spooled.c]
_INSERT = f"INSERT INTO spooled ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
"""The spool's insert, its columns in the table's order (the order ``put`` writes each row's values in)."""


def _known(cursor: Any, table: str, guids: list[str]) -> dict[str, tuple[int, str]]:
    """The id and digest of each of ``guids`` already in ``table`` (spooled or inbox)."""
    known: dict[str, tuple[int, str]] = {}
    for part in chunks(guids):
        marks = ", ".join("?" * len(part))
        rows = cursor.execute(f'SELECT guid, id, sha256 FROM "{table}" WHERE guid IN ({marks})', part)
        known.update({g: (int(i), sha) for g, i, sha in rows})
    return known


def pending(spool: Engine) -> int:
    """How many acknowledged messages wait in the spool."""
    with spool.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        return int(conn.execute(select(func.count()).select_from(spooled)).scalar_one())


_OPEN: dict[Path, Engine] = {}


def unprocessed(main: Engine) -> int:
    """Messages acknowledged but not processed yet: those still in the spool plus the inbox's pending ones.

    For "wait until everything is cleared": the spool is counted first, because the mover commits the inbox
    before it empties the spool, so nothing can slip between the two counts.
    """
    path = spool_path(main.url.render_as_string(hide_password=False))
    in_spool = 0
    if path is not None and path.exists():  # no file: nothing was ever spooled, and none is made here
        if path not in _OPEN:
            _OPEN[path] = _engine_at(path)
        in_spool = pending(_OPEN[path])
    with main.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        return in_spool + pending_count(conn)


def move(spool: Engine, main: Engine, *, limit: int = 2000) -> int:
    """Move the oldest spooled messages into the inbox (one main transaction), then off the spool.

    Returns how many were moved.  Run by the clearing process only (it holds the clearing lease), so
    moves never race each other; a crash between the two commits is repaired by the next move.
    """
    with spool.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as sconn:
        rows = sconn.execute(select(spooled).order_by(spooled.c.id).limit(limit)).all()
    if not rows:
        return 0
    with main.begin() as conn:
        # A reserved id already in the inbox is either this very message, moved before a crash stopped the
        # spool's delete (inbox.accept finds its guid: a repeat), or another writer's (a ``cbec clear`` on
        # the same file meanwhile): that message goes in under a new id.
        taken = set(conn.scalars(select(inbox.c.id).where(inbox.c.id.in_([r.id for r in rows]))))
        outcomes = accept(conn, [_item(r, reserved=True) for r in rows if r.id not in taken])
        outcomes += accept(conn, [_item(r, reserved=False) for r in rows if r.id in taken])
        ids = {o.guid: o.id for o in outcomes if o.outcome == Outcome.NEW}
        subs = [
            {"inbox_id": ids[r.guid], "dxp_address": a, "status": st}
            for r in rows
            if r.guid in ids
            for a, st in json.loads(r.subscribers).items()
        ]
        if subs:
            conn.execute(message_subscriber.insert(), subs)
    with spool.begin() as sconn:
        for part in chunks([r.id for r in rows]):
            sconn.execute(delete(spooled).where(spooled.c.id.in_(part)))
    Checkpointer(spool).run_once()  # the log back into the file beside the API's commits, never in one
    return len(rows)


def _item(r: Row[Any], *, reserved: bool) -> InboxItem:
    return InboxItem(
        guid=r.guid,
        message_type=r.message_type,
        raw=r.raw,
        sender=r.sender,
        dxp_id=r.dxp_id,
        received_at=datetime.fromisoformat(r.received_at),
        codec=r.raw_codec,
        sha256=r.sha256,
        id=int(r.id) if reserved else None,
    )
