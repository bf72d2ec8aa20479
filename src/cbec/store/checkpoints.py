"""Copying SQLite's write-ahead log into the database file on a thread of its own.

With ``connect(..., background_checkpoints=True)`` no commit checkpoints; this thread does, every
``interval`` seconds, in PASSIVE mode: it copies what no reader still needs without taking the write lock,
so writers never wait for it and the log stays bounded.  A no-op on PostgreSQL.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger("cbec.store.checkpoints")


class Checkpointer:
    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self.runs = 0

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> tuple[int, int, int] | None:
        """One passive checkpoint: (busy, log frames, frames copied), or None off SQLite."""
        if self.engine.dialect.name != "sqlite":
            return None
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            row = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def run(self) -> None:
        if self.engine.dialect.name != "sqlite":
            return
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a checkpoint that fails is retried at the next tick
                log.exception("WAL checkpoint failed")
