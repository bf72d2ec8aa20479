"""What every request handler needs: the database, the rules in force, the background jobs, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from cbec.params.dated import ParameterSet
from cbec.params.hs import HsTable
from cbec.privacy.keys import Keyring
from cbec.service.clearing import ClearingLoop
from cbec.service.credential_cache import CredentialCache

if TYPE_CHECKING:
    from cbec.service.intake_queue import IntakeQueue


@dataclass(slots=True)
class ServiceSettings:
    """How ``cbec serve`` runs; every field has a command-line option (``cbec serve --help``)."""

    clearing: bool = True
    """Run the clearing loop in this process (it clears only while it holds the lease)."""
    webhooks: bool = True
    """Run the webhook deliverer in this process."""
    outbox: Path | None = None
    """Also write receipt files here (the feed and webhooks work without it)."""
    max_body: int = 16 * 1024 * 1024
    verify_signatures: bool = True
    """Check XML-DSig on the messages that must be signed, against the sender's registered certificate."""
    credential_cache_seconds: float = 10.0
    """How long a resolved API key (and its certificates) is reused: see cbec.service.credential_cache."""
    intake_spool: bool = False
    """SQLite file databases: acknowledge messages from the intake spool (``<db>.intake``, see
    :mod:`cbec.store.spool`) instead of the inbox, so acknowledgements never wait for the clearer's writes.
    ``cbec serve`` turns it on."""
    warm_up: bool = False
    """Read a skeleton of every message type and open the databases before taking requests (see
    :mod:`cbec.service.warmup`).  ``cbec serve`` turns it on."""
    gate_journal: bool = False
    """SQLite file databases: commit gate decisions to the gate journal (``<db>.gate``, see
    :mod:`cbec.store.gate_journal`) instead of the main database, so a vehicle's answer never waits for the
    clearer's writes.  ``cbec serve`` turns it on with the intake spool."""


@dataclass(slots=True)
class ServiceContext:
    engine: Engine
    params: ParameterSet
    hs: HsTable
    settings: ServiceSettings
    buyer_secret: bytes
    data_keys: Keyring
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clearing: ClearingLoop | None = None
    credentials: CredentialCache = field(default_factory=lambda: CredentialCache(10.0))
    intake: IntakeQueue | None = None
    spool: Engine | None = None
    """The intake spool, when :attr:`ServiceSettings.intake_spool` is on and the database is a SQLite file."""
    gate_journal: Engine | None = None
    """The gate journal, when :attr:`ServiceSettings.gate_journal` is on and the database is a SQLite file."""
