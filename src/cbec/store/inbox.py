"""The inbox: every message exactly as received, stored before anything else happens.

The inbox is the source of truth: every other table can be rebuilt from it (see :func:`cbec.store.rebuild`).
It is keyed by the CEB message root guid, so a sender retrying after a timeout is answered from what is
already stored instead of being processed twice.  A guid arriving again with *different* bytes is never
stored: silently keeping either version would lose the other, so it is reported as a conflict.

Messages hold buyers' and payers' ID numbers, names and phones, so they are stored encrypted
(``zstd-gcm``: compressed with :mod:`cbec.store.compression`, then AES-256-GCM with the data key of
``cbec.store.data_key``); rows written before that (``identity``, ``zlib``, and ``zlib-gcm``, which was
compressed with zlib) stay readable.

Callers commit :func:`accept` on its own (``with engine.begin() as conn: accept(conn, items)``) before
acknowledging the sender; processing happens in a later transaction that ends with :func:`mark_processed`.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from cbec.privacy.crypto import open_sealed, seal
from cbec.privacy.keys import DataKeyError, Keyring
from cbec.store import compression
from cbec.store._common import Outcome, bulk_insert, check_len, chunks, utcnow
from cbec.store.data_key import keyring_for
from cbec.store.schema import RAW_CODECS, inbox

IDENTITY, ZLIB, SEALED_ZLIB, SEALED = RAW_CODECS
#: the encrypted forms: ``zstd-gcm``, which :func:`pack` writes, and ``zlib-gcm``, written before 0016
SEALED_CODECS = frozenset({SEALED, SEALED_ZLIB})
SEAL_CONTEXT = b"inbox.raw"  # authenticated with each sealed message: its ciphertext is valid here only

ACCEPTED = "accepted"
PROCESSED = "processed"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One message as it arrived.  ``guid`` is the CEB root guid (use the sha256 hex if it has none)."""

    guid: str
    message_type: str
    raw: bytes
    sender: str | None = None
    dxp_id: str | None = None
    received_at: datetime | None = None
    """When the message arrived; default: when :func:`accept` runs."""
    codec: str = IDENTITY
    """How ``raw`` is given: as received (``identity``), zlib-compressed (``zlib``) or compressed and
    encrypted (``zstd-gcm`` as :func:`pack` makes it, or the older ``zlib-gcm``).  :func:`accept` stores
    the first two encrypted."""
    sha256: str | None = None
    """Hex digest of the bytes as received; computed here when not given (a worker may have done it)."""
    id: int | None = None
    """The inbox id to store it under, when one was reserved for it (the intake spool acknowledges with the
    id the message will have); default: the next id."""


def pack(data: bytes, keys: Keyring) -> tuple[bytes, str]:
    """The message compressed and encrypted with ``keys`` (codec ``zstd-gcm``) for storage, and the digest
    of the bytes as received (for :class:`InboxItem`).

    Zstandard at level 1 (:mod:`cbec.store.compression`): XML shrinks about ninefold at some 900 MB/s,
    cheap enough for the decoding workers; AES-GCM after it encrypts a ninth of the bytes.
    """
    return seal(compression.compress(data), keys, SEAL_CONTEXT), hashlib.sha256(data).hexdigest()


def unpack(raw: bytes, codec: str, keys: Keyring | None = None) -> bytes:
    """The bytes as received, from a stored ``raw`` and its ``raw_codec`` (``keys`` for the sealed ones)."""
    if codec in SEALED_CODECS:
        if keys is None:
            raise DataKeyError("an encrypted inbox message needs the data key / 解密收件箱报文需要数据密钥")
        opened = open_sealed(raw, keys, SEAL_CONTEXT)
        return compression.decompress(opened) if codec == SEALED else zlib.decompress(opened)
    if codec == ZLIB:
        return zlib.decompress(raw)
    if codec == IDENTITY:
        return bytes(raw)
    raise ValueError(f"unknown inbox codec {codec!r}")


def reseal(raw: bytes, keys: Keyring) -> bytes:
    """A sealed message encrypted again with the current key (key rotation); its compression is kept."""
    return seal(open_sealed(raw, keys, SEAL_CONTEXT), keys, SEAL_CONTEXT)


def seal_stored(raw: bytes, codec: str, keys: Keyring) -> bytes:
    """A message stored as ``identity`` or ``zlib``, as ``zstd-gcm`` (:data:`SEALED`)."""
    return seal(compression.compress(unpack(raw, codec)), keys, SEAL_CONTEXT)


def _sealed(conn: Connection, item: InboxItem) -> tuple[bytes, str]:
    """What :func:`accept` stores for an item: encrypted whatever the caller gave, so no path into the
    inbox leaves personal data in clear."""
    if item.codec in SEALED_CODECS:
        if bytes(item.raw[:1]) != b"\x01":  # a mislabelled compressed stream would be unreadable later
            raise ValueError(f"{item.guid}: raw is not a {item.codec} ciphertext")
        return item.raw, item.codec
    return seal_stored(item.raw, item.codec, keyring_for(conn)), SEALED


@dataclass(frozen=True, slots=True)
class AcceptOutcome:
    index: int
    """Position of the item in the sequence given to :func:`accept`."""
    guid: str
    outcome: Outcome
    """NEW, REPEAT (same guid, same bytes) or CONFLICT (same guid, different bytes: not stored)."""
    id: int
    """The inbox row holding this guid: the new one, or the one stored earlier."""


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    guid: str
    message_type: str
    sender: str | None
    dxp_id: str | None
    received_at: datetime
    sha256: str
    raw: bytes
    """The message as received (decompressed if it is stored compressed)."""
    raw_codec: str
    status: str
    processed_at: datetime | None
    batch_id: int | None


def accept(conn: Connection, items: Sequence[InboxItem]) -> list[AcceptOutcome]:
    """Store new messages; report, for every item in order, whether it was new, a repeat or a conflict.

    Safe under concurrency: the unique guid decides, and only rows returned by the INSERT count as new.
    """
    if not items:
        return []
    if len({item.id is None for item in items}) > 1:  # one statement for all: every row has the same keys
        raise ValueError("either every item carries a reserved id or none does")
    now = utcnow()
    params = []
    digests = []
    for item in items:
        check_len("guid", item.guid, 64)
        check_len("message_type", item.message_type, 32)
        if item.codec not in RAW_CODECS:
            raise ValueError(f"codec must be one of {RAW_CODECS}, not {item.codec!r}")
        keys = keyring_for(conn) if item.codec in SEALED_CODECS and not item.sha256 else None
        digest = item.sha256 or hashlib.sha256(unpack(item.raw, item.codec, keys)).hexdigest()
        digests.append(digest)
        raw, codec = _sealed(conn, item)
        params.append(
            {
                "guid": item.guid,
                "message_type": item.message_type,
                "sender": item.sender,
                "dxp_id": item.dxp_id,
                "received_at": item.received_at or now,
                "sha256": digest,
                "raw": raw,
                "raw_codec": codec,
                "status": ACCEPTED,
                "processed_at": None,
                "batch_id": None,
                **({"id": item.id} if item.id is not None else {}),
            }
        )
    rows = bulk_insert(
        conn,
        inbox,
        params,
        on_conflict=lambda stmt: stmt.on_conflict_do_nothing(index_elements=[inbox.c.guid]),
        returning=[inbox.c.id, inbox.c.guid],
    )
    inserted: dict[str, int] = {guid: id_ for id_, guid in rows}

    # An item not inserted by this call repeats a guid stored before; a later item with a guid inserted
    # by this call repeats the first one (rows are inserted in order).
    missing = sorted({item.guid for item in items if item.guid not in inserted})
    stored: dict[str, tuple[int, str]] = {}
    for part in chunks(missing):
        found = conn.execute(select(inbox.c.guid, inbox.c.id, inbox.c.sha256).where(inbox.c.guid.in_(part)))
        stored.update({guid: (id_, sha) for guid, id_, sha in found})

    first: dict[str, str] = {}
    outcomes = []
    for index, (item, digest) in enumerate(zip(items, digests, strict=True)):
        if item.guid in inserted:
            id_ = inserted[item.guid]
            if item.guid not in first:
                first[item.guid] = digest
                outcomes.append(AcceptOutcome(index, item.guid, Outcome.NEW, id_))
                continue
            sha = first[item.guid]
        else:
            id_, sha = stored[item.guid]
        outcome = Outcome.REPEAT if sha == digest else Outcome.CONFLICT
        outcomes.append(AcceptOutcome(index, item.guid, outcome, id_))
    return outcomes


def pending(conn: Connection, limit: int = 1000) -> list[InboxRow]:
    """Accepted messages not yet processed, oldest first (by arrival order in the inbox)."""
    stmt = select(inbox).where(inbox.c.status == ACCEPTED).order_by(inbox.c.id).limit(limit)
    return [_row(row._mapping, conn) for row in conn.execute(stmt)]


def pending_ids(conn: Connection, limit: int = 1000) -> list[int]:
    """The ids of :func:`pending`, without reading (decrypting, decompressing) the messages."""
    stmt = select(inbox.c.id).where(inbox.c.status == ACCEPTED).order_by(inbox.c.id).limit(limit)
    return [int(i) for i in conn.execute(stmt).scalars()]


def pending_count(conn: Connection) -> int:
    """How many accepted messages wait to be processed."""
    stmt = select(func.count()).select_from(inbox).where(inbox.c.status == ACCEPTED)
    return int(conn.execute(stmt).scalar_one())


def by_guids(conn: Connection, guids: Sequence[str]) -> dict[str, InboxRow]:
    """Stored messages by guid, for answering "what happened to my message?"."""
    found: dict[str, InboxRow] = {}
    for part in chunks(sorted(set(guids))):
        for row in conn.execute(select(inbox).where(inbox.c.guid.in_(part))):
            found[row.guid] = _row(row._mapping, conn)
    return found


def mark_processed(
    conn: Connection,
    ids: Sequence[int],
    batch_id: int | None,
    *,
    status: str = PROCESSED,
    at: datetime | None = None,
) -> int:
    """Close messages (``processed`` or ``refused``) inside the processing transaction; return how many.

    Only messages still ``accepted`` change.  A count lower than ``len(ids)`` means another worker
    processed some of them first: roll back rather than commit a second set of effects.
    """
    if status not in (PROCESSED, REFUSED):
        raise ValueError(f"status must be {PROCESSED!r} or {REFUSED!r}, not {status!r}")
    values = {"status": status, "processed_at": at or utcnow(), "batch_id": batch_id}
    changed = 0
    for part in chunks(sorted(set(ids))):
        result = conn.execute(
            update(inbox).where(inbox.c.id.in_(part), inbox.c.status == ACCEPTED).values(values)
        )
        changed += result.rowcount
    return changed


def replay_all(conn: Connection, *, page_size: int = 500) -> Iterator[InboxRow]:
    """Every stored message in arrival order, whatever its status, fetched page by page.

    Pages are read by id (keyset), so memory stays bounded however large the inbox is and no server-side
    cursor has to stay open between pages.
    """
    last = 0
    while True:
        stmt = select(inbox).where(inbox.c.id > last).order_by(inbox.c.id).limit(page_size)
        rows = [_row(row._mapping, conn) for row in conn.execute(stmt)]
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def still_accepted(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Which of these messages are stored but not yet processed (a run stopped between the two commits)."""
    found: set[int] = set()
    for part in chunks(sorted(set(ids)), 30_000):
        found.update(conn.scalars(select(inbox.c.id).where(inbox.c.id.in_(part), inbox.c.status == ACCEPTED)))
    return found


def _row(mapping: Any, conn: Connection) -> InboxRow:
    values = dict(mapping)
    keys = keyring_for(conn) if values["raw_codec"] in SEALED_CODECS else None
    values["raw"] = unpack(values["raw"], values["raw_codec"], keys)
    return InboxRow(**values)


def by_ids(conn: Connection, ids: Sequence[int]) -> list[InboxRow]:
    """Stored messages by inbox id, in id (arrival) order; absent ids are left out."""
    found: list[InboxRow] = []
    for part in chunks(sorted(set(ids))):
        found += [_row(r._mapping, conn) for r in conn.execute(select(inbox).where(inbox.c.id.in_(part)))]
    return sorted(found, key=lambda r: r.id)


def raw_by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, bytes]:
    """The messages as received, by inbox id (absent ids are left out)."""
    return {r.id: r.raw for r in by_ids(conn, ids)}
