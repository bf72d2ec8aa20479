"""The gate journal (SQLite only): decided gate events on their way into the main database.

A vehicle at the gate waits for its answer, and the answer is given only once the event and its decision
are stored.  On one SQLite file that store had to wait for the clearing loop's write transaction (40–100 ms
on the 2-core VM), which was the gate's tail latency.  So, as the intake spool does for messages
(:mod:`cbec.store.spool`), the lanes commit their decisions to a small database beside the main one
(``<db>.gate``), whose lock only the gate lanes and the mover share, and the clearing process moves the
journal into ``gate_event`` and ``gate_pass`` in its own transaction.

What a lane reads stays exact:

* **a pass is used once**: a LIFT moves its pass (approved → passed) in the journal; a lane reads the
  journal's latest status of each pass over the main database's, while holding the journal's write lock,
  so two lanes (or two processes) can never both lift a vehicle on one pass;
* **idempotent on eventId**: an event id is looked up in the journal and then in ``gate_event``, under the
  same lock; the mover deletes journal rows only after the main commit, so an event missing from the journal
  at that moment is either in the main database already or new;
* **nothing lost, nothing twice**: a crash between the main commit and the journal delete leaves rows the
  next move finds in ``gate_event`` already (same event id) and just deletes.

Enterprise and officer writes that change a pass (delete, void) take the journal's lock too and judge the
pass by its journal status, so they never undo a lift that is not moved yet.

PostgreSQL needs none of this (its row locks do not wait for the clearer's other rows), nor does an
in-memory database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, Index, Integer, MetaData, String, Table, Text

from cbec.store._common import chunks
from cbec.store.checkpoints import Checkpointer
from cbec.store.db import SQLITE_BEGIN, SQLITE_POLL_LOCK, beside_database, connect, driver_cursor, fetch_rows
from cbec.store.gate import EVENT_COLUMNS, known_event_ids, marks, move_status
from cbec.store.schema import gate_event

log = logging.getLogger("cbec.store.gate_journal")

SUFFIX = ".gate"
LATEST_WINDOW = 2000
"""How many of the newest journal rows a reader of recent decisions looks at (the journal is emptied every
clearing cycle, so it rarely holds more than a second or two of traffic)."""
_TIMES = ("at", "received_at")

_meta = MetaData()
journal = Table(
    "gate_journal",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order the lanes decided in
    Column("event_id", String(64), nullable=False, unique=True),
    Column("pass_id", Integer, nullable=True),
    Column("status_after", String(1), nullable=True),  # the pass's status after a LIFT, else null
    Column("move", Text, nullable=True),  # a LIFT's JSON {"from": [statuses], "times": {column: iso}}
    Column("event", Text, nullable=False),  # the gate_event row as JSON, timestamps in ISO 8601
    Index("ix_gate_journal_pass", "pass_id", "id"),
)


def journal_path(main_url: str) -> Path | None:
    """Where the journal of a database lives: beside a SQLite file; None for PostgreSQL or in-memory."""
    return beside_database(main_url, SUFFIX)


_OPEN: dict[Path, Engine] = {}


def open_journal(main_url: str, *, create: bool = True) -> Engine | None:
    """The journal's engine (one per file and process), or None where the database needs none, or where
    ``create`` is false and no lane has made the file yet."""
    path = journal_path(main_url)
    if path is None or (not create and not path.exists()):
        return None
    found = _OPEN.get(path)
    if found is None:
        found = connect(f"sqlite:///{path}", create=False, background_checkpoints=True)
        with found.begin() as conn:
            _meta.create_all(conn)
        _OPEN[path] = found
    return found


@dataclass(frozen=True, slots=True)
class Move:
    """How a LIFT moves its pass: from one of ``sources``, setting ``times``.  The pass, the status it goes to
    and when are the event's own ``pass_id``, ``pass_status_after`` and ``received_at``."""

    sources: tuple[str, ...]
    times: Mapping[str, datetime]


@contextmanager
def locked(journal_engine: Engine) -> Iterator[Connection]:
    """A transaction on the journal holding its write lock (polled, like the service's other short writes):
    everything a lane reads and writes between entering and leaving is one decision."""
    with journal_engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
        yield conn


def _encode(row: Mapping[str, Any]) -> str:
    out = {k: row[k] for k in EVENT_COLUMNS}
    for k in _TIMES:
        out[k] = row[k].astimezone(UTC).isoformat()
    return json.dumps(out, ensure_ascii=False)


def _decode(text: str) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(text)
    for k in _TIMES:
        row[k] = datetime.fromisoformat(row[k])
    return row


def stored_events(conn: Connection, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The journal's rows of these event ids (a ``gate_event`` row each), usually none."""
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(set(event_ids))):
        sql = f"SELECT event_id, event FROM gate_journal WHERE event_id IN ({marks(len(part))})"
        found.update({str(e): _decode(t) for e, t in fetch_rows(conn, sql, part)})
    return found


def statuses(conn: Connection, pass_ids: Sequence[int]) -> dict[int, str]:
    """The status each of these passes has after the journal's moves not yet in the main database."""
    out: dict[int, str] = {}
    for part in chunks(sorted(set(pass_ids))):
        sql = (
            "SELECT pass_id, status_after FROM gate_journal "
            f"WHERE pass_id IN ({marks(len(part))}) AND status_after IS NOT NULL ORDER BY id"
        )
        out.update({int(p): str(s) for p, s in fetch_rows(conn, sql, part)})
    return out


def append(conn: Connection, rows: Sequence[Mapping[str, Any]], moves: Mapping[str, Move]) -> None:
    """Journal decided events (``gate_event`` rows) and the pass moves of their LIFTs, keyed by event id."""
    values = []
    for r in rows:
        m = moves.get(r["event_id"])
        move = None
        if m is not None:
            move = json.dumps(
                {
                    "from": list(m.sources),
                    "times": {k: v.astimezone(UTC).isoformat() for k, v in m.times.items()},
                }
            )
        after = r["pass_status_after"] if m is not None else None
        values.append((r["event_id"], r["pass_id"], after, move, _encode(r)))
    with driver_cursor(conn) as cursor:
        cursor.executemany(
            "INSERT INTO gate_journal (event_id, pass_id, status_after, move, event) VALUES (?, ?, ?, ?, ?)",
            values,
        )


def pending(journal_engine: Engine) -> int:
    """How many decided events wait in the journal."""
    with journal_engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        return int(fetch_rows(conn, "SELECT count(*) FROM gate_journal", ())[0][0])


def latest(journal_engine: Engine, limit: int) -> list[dict[str, Any]]:
    """The newest journal rows, newest first (the events a reader of the main database cannot see yet)."""
    with journal_engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        rows = fetch_rows(conn, "SELECT event FROM gate_journal ORDER BY id DESC LIMIT ?", (limit,))
    return [_decode(t) for (t,) in rows]


def move(journal_engine: Engine, main: Engine, *, limit: int = 5000) -> int:
    """Move the oldest journal rows into the main database (one transaction), then off the journal.

    Returns how many were moved.  Run by the clearing process only (it holds the clearing lease), so moves
    never race each other.  A pass whose status changed meanwhile in the main database is not moved back:
    the writes that could do that take the journal's lock and read it first, so this is only logged.
    """
    with journal_engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as jconn:
        rows = fetch_rows(
            jconn, "SELECT id, event_id, move, event FROM gate_journal ORDER BY id LIMIT ?", (limit,)
        )
    if not rows:
        return 0
    with main.begin() as conn:
        done = known_event_ids(conn, [str(r[1]) for r in rows])  # moved before a crash
        fresh = [(r[2], _decode(r[3])) for r in rows if str(r[1]) not in done]
        for move_text, event in fresh:
            if move_text is None:
                continue
            m = json.loads(move_text)
            times = {k: datetime.fromisoformat(v) for k, v in m["times"].items()}
            pass_id, after, at = int(event["pass_id"]), event["pass_status_after"], event["received_at"]
            if not move_status(conn, pass_id, m["from"], after, at, **times):
                log.warning("pass %s of event %s was no longer in %s", pass_id, event["event_id"], m["from"])
        if fresh:
            conn.execute(gate_event.insert(), [event for _move, event in fresh])
    with journal_engine.begin() as jconn:
        for part in chunks([int(r[0]) for r in rows]):
            jconn.exec_driver_sql(f"DELETE FROM gate_journal WHERE id IN ({marks(len(part))})", tuple(part))
    Checkpointer(journal_engine).run_once()
    return len(rows)


def unmoved(main: Engine) -> int:
    """Decided gate events not in the main database yet (0 where there is no journal): for "wait until every
    event is stored in the main database"."""
    found = open_journal(main.url.render_as_string(hide_password=False), create=False)
    return 0 if found is None else pending(found)
