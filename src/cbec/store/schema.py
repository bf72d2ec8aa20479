"""The import-clearance tables, as one SQLAlchemy Core ``MetaData``.

This module is the *intended* schema; the Alembic revisions in ``migrations/versions`` are what actually
builds a database, and a test checks that the two agree.  Types are chosen to mean the same thing on SQLite
and PostgreSQL 15:

* money is ``BIGINT`` fen (1/100 CNY), never NUMERIC/REAL, because SQLite stores NUMERIC as floating point;
* timestamps are ``UtcDateTime``: timezone-aware UTC in Python whatever the backend stores;
* surrogate keys are ``BIGINT`` on PostgreSQL but ``INTEGER`` on SQLite, where only ``INTEGER PRIMARY KEY``
  is an alias of the rowid and therefore auto-increments;
* constraint and index names come from a naming convention so that later migrations can address them by
  name on both backends (SQLite needs names for Alembic's batch mode).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from cbec.store import packed_xml

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Surrogate primary key type: see the module docstring for why SQLite gets INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC on the Python side.

    SQLite has no timezone-aware type and returns naive values; PostgreSQL's ``timestamptz`` returns values
    in the session time zone.  Normalising here means callers never compare naive with aware datetimes,
    and naive input is refused because its meaning (local? UTC?) cannot be known.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: cbec.store stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers always give datetime here
            raise TypeError(f"expected datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PackedXml(TypeDecorator[bytes]):
    """XML stored compressed and read back as the XML bytes (:mod:`cbec.store.packed_xml`)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else packed_xml.pack(bytes(value))

    def process_result_value(self, value: Any | None, dialect: Dialect) -> bytes | None:
        return None if value is None else packed_xml.unpack(bytes(value))


# Inbox statuses: the store accepts, the engine processes or refuses.
INBOX_STATUSES = ("accepted", "processed", "refused")
# zlib-gcm / zstd-gcm: compressed (zlib before revision 0016, Zstandard since), then encrypted (cbec.privacy)
RAW_CODECS = ("identity", "zlib", "zlib-gcm", "zstd-gcm")
QUOTA_MOVEMENT_KINDS = ("accept", "cancel", "return")
TAX_BILL_STATUSES = (1, 2, 3)


def _in(column: str, values: tuple[str, ...] | tuple[int, ...]) -> str:
    rendered = ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)
    return f"{column} IN ({rendered})"


# One run of the engine over a batch of inbox messages.
batch = Table(
    "batch",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("messages", Integer, nullable=False),
    Column("note", Text, nullable=False),
)

# Every message exactly as received; append-only, the source of truth for replay.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("guid", String(64), nullable=False),  # CEB message root guid
    Column("message_type", String(32), nullable=False),
    Column("sender", String(32), nullable=True),  # copCode of the sending enterprise
    Column("dxp_id", String(64), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=True),
    Column("batch_id", BigInteger, ForeignKey("batch.id"), nullable=True),
    # how ``raw`` is stored: as received, or compressed (the store always gives back the bytes received)
    Column("raw_codec", String(8), nullable=False, server_default=text("'identity'")),
    UniqueConstraint("guid"),
    CheckConstraint(_in("status", INBOX_STATUSES), name="status"),
    CheckConstraint(_in("raw_codec", RAW_CODECS), name="raw_codec"),
    Index(None, "status", "id"),
)

# Decoded trade documents (order, payment, waybill, list, …) and their current status.
document = Table(
    "document",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("guid", String(64), nullable=False),
    Column("business_key", String(200), nullable=False),
    Column("inbox_id", BigInteger, ForeignKey("inbox.id"), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", Integer, nullable=False),  # CEB returnStatus
    Column("app_type", String(1), nullable=False),
    Column("payload", Text, nullable=True),  # optional decoded copy (JSON); the inbox holds the record
    # import lists only (kind 'list', NULL for every other kind): the head's waybill and order number, so a
    # list is found by the parcel's numbers alone (gate passes) without decoding messages (migration 0015)
    Column("logistics_no", String(64), nullable=True),
    Column("logistics_code", String(32), nullable=True),
    Column("order_no", String(64), nullable=True),
    # the guid's index number (cbec.store.guid_hash): guids are random, and a B-tree of 64-bit numbers is a
    # quarter of one of 36-character text, so each commit rewrites a quarter of the pages (migration 0018)
    Column("guid_hash", BigInteger, nullable=False),
    # a document is found by guid through its number, the text compared too (numbers may collide); the
    # business key stays unique: the same document delivered again is refused by it (cbec.store.documents)
    Index("ix_document_guid_hash", "guid_hash"),
    UniqueConstraint("kind", "business_key"),
    # only the waiting documents are ever looked up by status (partial index: decided ones cost nothing)
    Index(
        "ix_document_waiting",
        "kind",
        "id",
        sqlite_where=text("status = 2"),
        postgresql_where=text("status = 2"),
    ),
    # partial: only the lists' rows carry the numbers, the other kinds' NULLs are not indexed; ``kind`` first
    # so that ``kind = 'list' AND logistics_no IN (…)`` is two equalities here rather than one on the
    # (kind, business_key) key, which SQLite's planner (without statistics) would otherwise prefer
    Index(
        "ix_document_list_logistics_no",
        "kind",
        "logistics_no",
        "logistics_code",
        sqlite_where=text("logistics_no IS NOT NULL"),
        postgresql_where=text("logistics_no IS NOT NULL"),
    ),
    Index(
        "ix_document_list_order_no",
        "kind",
        "order_no",
        sqlite_where=text("order_no IS NOT NULL"),
        postgresql_where=text("order_no IS NOT NULL"),
    ),
)

# Every decision taken on an inventory list, with the rule and reason that explain it.
decision = Table(
    "decision",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("list_key", String(200), nullable=False),
    Column("invt_no", String(32), nullable=True),
    Column("status", Integer, nullable=False),
    Column("code", String(16), nullable=True),  # official (negative) business code
    Column("rule", String(64), nullable=False),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("batch_id", BigInteger, ForeignKey("batch.id"), nullable=True),
    Index(None, "list_key"),
    Index(None, "invt_no"),
)

# The outbox: receipts written with their decision, delivered afterwards.
receipt = Table(
    "receipt",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_type", String(32), nullable=False),
    Column("recipient", String(64), nullable=False),  # copCode or DXP id
    Column("business_key", String(200), nullable=False),
    Column("doc_guid", String(64), nullable=False),  # guid of the document answered
    Column("status", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("xml", PackedXml(), nullable=False),  # compressed at rest, read back as XML
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("batch_id", BigInteger, nullable=True),  # the clearing batch that produced it (parcel history)
    UniqueConstraint("message_type", "doc_guid", "status"),
    Index(None, "business_key"),
    Index(None, "recipient", "id"),  # each enterprise's receipt feed
    Index(None, "batch_id"),
    Index(
        "ix_receipt_undelivered",
        "id",
        sqlite_where=text("delivered_at IS NULL"),
        postgresql_where=text("delivered_at IS NULL"),
    ),
)

# Annual CBEC amount used per buyer, in fen; the sum of quota_movement.
quota = Table(
    "quota",
    metadata,
    Column("buyer_key", String(64), nullable=False),  # hash of the buyer id number, never the number
    Column("year", Integer, nullable=False),
    Column("used_fen", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("buyer_key", "year"),
)

# The quota ledger: one row per list and kind of movement, so applying twice counts once.
quota_movement = Table(
    "quota_movement",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("buyer_key", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("list_key", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),  # signed: accept > 0, cancel/return < 0
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("list_key", "kind"),
    CheckConstraint(_in("kind", QUOTA_MOVEMENT_KINDS), name="kind"),
    # no index by buyer: nothing reads movements that way (totals are in ``quota``), and a B-tree on the
    # random buyer hash cost every clearing commit its pages (revision 0017)
)

# Electronic tax bills (CEB816) issued for released lists.
tax_bill = Table(
    "tax_bill",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tax_no", String(50), nullable=False),
    Column("invt_no", String(32), nullable=False),
    Column("list_key", String(200), nullable=False),
    Column("customs_tax_fen", BigInteger, nullable=False),
    Column("vat_fen", BigInteger, nullable=False),
    Column("ct_fen", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),  # 1 generated, 2 summarised, 3 void
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tax_no"),
    CheckConstraint(_in("status", TAX_BILL_STATUSES), name="status"),
    Index(None, "list_key"),
)

# --- after the first decision (aftercare): officers' results, cancellations, returns --------------
OFFICER_RESULT_KINDS = ("review", "inspection")
APPLICATION_KINDS = ("cancel", "return")
TAX_ADJUSTMENT_KINDS = ("void", "return")

# What a customs officer recorded on a list held for manual review (300) or inspection (500, 501–503, 599).
# Not derived from the inbox: it is input, like the inbox itself, and survives ``rebuild``.
officer_result = Table(
    "officer_result",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("list_key", String(200), nullable=False),
    Column("invt_no", String(32), nullable=True),
    Column("kind", String(16), nullable=False),  # review | inspection
    Column("result", String(32), nullable=False),  # release, refuse, pass, detain-…, return
    Column("from_status", Integer, nullable=False),
    Column("to_status", Integer, nullable=False),
    Column("code", String(16), nullable=True),
    Column("officer", String(64), nullable=False),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    CheckConstraint(_in("kind", OFFICER_RESULT_KINDS), name="kind"),
    Index(None, "list_key"),
)

# The outcome of every cancellation (CEB623) and return application (CEB625): accepted (399) or refused (100)
# with the official code and the reason; the quota and tax given back, in fen (≤ 0).
application = Table(
    "application",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # cancel | return
    Column("guid", String(64), nullable=False),  # the application document's guid
    Column("invt_no", String(32), nullable=False),  # as declared
    Column("list_key", String(200), nullable=True),  # the list it was matched to, if any
    Column("cop_no", String(32), nullable=True),
    Column("sender", String(32), nullable=True),
    Column("status", Integer, nullable=False),  # CEB returnStatus of the receipt: 399 or 100
    Column("code", String(16), nullable=True),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("quota_fen", BigInteger, nullable=False),
    Column("tax_fen", BigInteger, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("batch_id", BigInteger, ForeignKey("batch.id"), nullable=True),
    UniqueConstraint("kind", "guid"),
    CheckConstraint(_in("kind", APPLICATION_KINDS), name="kind"),
    Index(None, "list_key"),
)

# The lines of accepted returns: how much of each original list line came back, and its share of the list's
# dutiable value and taxes (fen), so later returns know what is left.
return_line = Table(
    "return_line",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("list_key", String(200), nullable=False),
    Column("return_guid", String(64), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("qty", String(32), nullable=False),  # exact decimal text (N19,5)
    Column("dutiable_fen", BigInteger, nullable=False),
    Column("customs_tax_fen", BigInteger, nullable=False),
    Column("vat_fen", BigInteger, nullable=False),
    Column("ct_fen", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("return_guid", "gnum"),
    Index(None, "list_key"),
)

# Changes to an issued tax bill: ``void`` reverses it whole (cancellation, refusal after review, return
# abroad), ``return`` takes off a returned share.  Amounts are ≤ 0; ``refund`` is 1 when the bill had already
# been summarised into a payment notice (status 2), so the money is refunded rather than no longer due.
tax_adjustment = Table(
    "tax_adjustment",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tax_no", String(50), nullable=False),
    Column("ref", String(64), nullable=False),  # what caused it: "void" or the return application's guid
    Column("kind", String(16), nullable=False),
    Column("customs_tax_fen", BigInteger, nullable=False),
    Column("vat_fen", BigInteger, nullable=False),
    Column("ct_fen", BigInteger, nullable=False),
    Column("refund", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tax_no", "ref"),
    CheckConstraint(_in("kind", TAX_ADJUSTMENT_KINDS), name="kind"),
)

# Named counters moved forward inside the transaction that uses them (e.g. the serial of list numbers).
counter = Table(
    "counter",
    metadata,
    Column("name", String(32), nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("name"),
)

# --- the HTTP service (revision 0009) --------------------------------------------------------------------
SUBSCRIPTION_KINDS = ("ALL", "DATA", "RET")
DELIVERY_STATUSES = ("pending", "done", "dead")
DELIVERY_ITEMS = ("receipt", "data")

# Where each consumer of a receipt feed has got to (what it has confirmed reading), so it can resume.
feed_cursor = Table(
    "feed_cursor",
    metadata,
    Column("consumer", String(80), nullable=False),
    Column("position", BigInteger, nullable=False),  # the last receipt id confirmed
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("consumer"),
)

# Webhook subscriptions (BaseSubscribe semantics: ALL = data + receipts, DATA = data only, RET = receipts).
subscription = Table(
    "subscription",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner", String(32), nullable=False),  # enterprise code (or DXP id) the subscription serves
    Column("url", Text, nullable=False),
    Column("kind", String(4), nullable=False),
    Column("secret", String(128), nullable=False),  # key of the HMAC signature header of each call
    Column("active", Integer, nullable=False),
    Column("receipt_position", BigInteger, nullable=False),  # last receipt id considered
    Column("data_position", BigInteger, nullable=False),  # last inbox id considered (DATA copies)
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint(_in("kind", SUBSCRIPTION_KINDS), name="kind"),
    Index(None, "owner"),
)

# One webhook call to make (a receipt or a data message for a subscription), with its retries.
delivery = Table(
    "delivery",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscription_id", BigInteger, ForeignKey("subscription.id"), nullable=False),
    Column("item", String(8), nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("subscription_id", "item", "item_id"),
    CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
    CheckConstraint(_in("item", DELIVERY_ITEMS), name="item"),
    Index(
        "ix_delivery_due",
        "next_attempt_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

# Third parties a message names in BaseSubscribe (copies of its data and/or its receipts go to them).
message_subscriber = Table(
    "message_subscriber",
    metadata,
    Column("inbox_id", BigInteger, ForeignKey("inbox.id"), nullable=False),
    Column("dxp_address", String(100), nullable=False),
    Column("status", String(4), nullable=False),
    PrimaryKeyConstraint("inbox_id", "dxp_address"),
    Index(None, "dxp_address", "inbox_id"),
)

# Time-limited leases: which process holds a singleton job (the clearing loop) on a shared database.
lease = Table(
    "lease",
    metadata,
    Column("name", String(32), nullable=False),
    Column("holder", String(80), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("name"),
)
# --- end of the HTTP service tables ---------------------------------------------------------------------


#: Tables whose content is derived from the inbox by the engine (emptied by ``rebuild``).
DERIVED_TABLES: tuple[Table, ...] = (
    counter,
    tax_adjustment,
    return_line,
    application,
    quota_movement,
    quota,
    tax_bill,
    decision,
    document,
)


# --- personal data (revision 0008, docs/privacy.md) ------------------------------------------------------
# Every read of personal data in clear (unmasked): who, in which role, when, which document and fields, and
# why.  Input, not derived: kept by ``rebuild``.  It names the document, never the values read.
pii_access = Table(
    "pii_access",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("accessed_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),  # user, officer number or enterprise code
    Column("role", String(32), nullable=False),
    Column("document_kind", String(16), nullable=True),  # order, payment, waybill, list, … or NULL
    Column("document_ref", String(200), nullable=False),  # guid or business key of what was read
    Column("fields", Text, nullable=False),  # the personal fields shown in clear, comma-separated
    Column("purpose", Text, nullable=False),
    Column("channel", String(16), nullable=False),  # api, console, cli
    Index(None, "document_ref"),
    Index(None, "actor", "accessed_at"),
    Index(None, "accessed_at"),
)
# --- end of the personal-data tables ---------------------------------------------------------------------


# --- enterprise filing and rights (revision 0007, docs/enterprises.md) -------------------------------------
# Input, not derived: kept by ``rebuild``.  The values of the role and kind columns are those of
# cbec.rights (Role, CodeKind); a test checks that they agree.
ENTERPRISE_ROLES = ("ebp", "ebc", "payment", "logistics", "agent", "operator", "officer", "admin")
GRANT_ROLES = ("ebp", "ebc", "payment", "logistics", "agent", "operator")
ENTERPRISE_CODE_KINDS = ("customs", "uscc", "account")
CERTIFICATE_ALGORITHMS = ("rsa", "sm2")

# A filed enterprise (备案企业), or a customs officer's or administrator's account.
enterprise = Table(
    "enterprise",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("primary_code", String(32), nullable=False),  # the code filed under (also in enterprise_code)
    Column("name", String(100), nullable=False),
    Column("district", String(4), nullable=True),  # officers only: customs district (关区代码)
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("primary_code"),
)

# Every code of an enterprise (its customs code and USCC may both appear in messages); one owner per code.
enterprise_code = Table(
    "enterprise_code",
    metadata,
    Column("code", String(32), nullable=False),
    Column("enterprise_id", BigInteger, ForeignKey("enterprise.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    PrimaryKeyConstraint("code"),
    CheckConstraint(_in("kind", ENTERPRISE_CODE_KINDS), name="kind"),
    Index(None, "enterprise_id"),
)

enterprise_role = Table(
    "enterprise_role",
    metadata,
    Column("enterprise_id", BigInteger, ForeignKey("enterprise.id"), nullable=False),
    Column("role", String(16), nullable=False),
    PrimaryKeyConstraint("enterprise_id", "role"),
    CheckConstraint(_in("role", ENTERPRISE_ROLES), name="role"),
)

# The owner lets the grantee act in ``role`` under the owner's codes, for ``message_types`` (comma-separated
# root names; empty: all).  Revoked and expired grants are kept: they explain refusals and are the record.
enterprise_grant = Table(
    "enterprise_grant",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", BigInteger, ForeignKey("enterprise.id"), nullable=False),
    Column("grantee_id", BigInteger, ForeignKey("enterprise.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("message_types", Text, nullable=False),
    Column("valid_from", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint(_in("role", GRANT_ROLES), name="role"),
    Index(None, "grantee_id"),
    Index(None, "owner_id"),
)

# API keys: the public prefix finds the row; only the SHA-256 of the whole key is kept (rights.credentials).
enterprise_api_key = Table(
    "enterprise_api_key",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("enterprise_id", BigInteger, ForeignKey("enterprise.id"), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("label", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    UniqueConstraint("prefix"),
    Index(None, "enterprise_id"),
)

# Signing certificates as uploaded (PEM), with what a signature check looks them up by: the enterprise, the
# serial (decimal, as XML-DSig X509SerialNumber) or the KeyName (e-port card id), and the validity.
enterprise_certificate = Table(
    "enterprise_certificate",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("enterprise_id", BigInteger, ForeignKey("enterprise.id"), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("algorithm", String(8), nullable=False),
    Column("key_name", String(64), nullable=True),
    Column("subject", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("not_after", UtcDateTime(), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the DER
    Column("pem", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    UniqueConstraint("fingerprint"),
    CheckConstraint(_in("algorithm", CERTIFICATE_ALGORITHMS), name="algorithm"),
    Index(None, "enterprise_id"),
    Index(None, "serial"),
)
# --- end of the enterprise filing tables -------------------------------------------------------------------

# --- bonded e-ledger tables (migration 0010) ---------------------------------------------------------------
# Quantities are exact decimals kept as BIGINT in 1/100000 of the unit (the N19,5 of the CEB quantity fields),
# so that the balance can be moved with an atomic ``balance = balance + :delta`` and summed exactly.
LEDGER_MOVEMENT_KINDS = (
    "entry",  # 一线入区 first-line entry of bulk stock
    "writeoff",  # 二线出区核减 write-off of a released 1210 list line
    "return",  # 退货入区 an accepted import return back into stock
    "transfer-out",  # 流转出区 to another zone's ledger
    "transfer-in",  # 流转入区 from another zone's ledger
    "dispose-trade",  # 转一般贸易内销
    "dispose-reexport",  # 退运/复出口
    "dispose-destroy",  # 销毁
    "adjust",  # 经批准的调整 approved adjustment (±)
)
#: Movements the engine derives from the inbox (list write-offs, returns): ``rebuild`` deletes them; the
#: others are the operator's input and are kept.
LEDGER_DERIVED_KINDS = ("writeoff", "return")
WAREHOUSE_ENTRY_STATUSES = (100, 399)

# A zone enterprise's e-ledger (账册, emsNo), filed with its zone warehousing enterprise and customs district.
ledger = Table(
    "ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ems_no", String(30), nullable=False),
    Column("area_code", String(32), nullable=False),  # zone warehousing enterprise (areaCode), an operator
    Column("area_name", String(100), nullable=False),
    Column("customs_code", String(4), nullable=False),  # customs district the ledger is kept with
    Column("filed_at", UtcDateTime(), nullable=False),
    Column("filed_by", String(64), nullable=False),
    UniqueConstraint("ems_no"),
    Index(None, "area_code"),
)

# The ledger's items (料号): one SKU each, with its HS code and legal units, and the running balances, which
# always equal the sum of the item's movements (kept in the same transaction as each movement).
ledger_item = Table(
    "ledger_item",
    metadata,
    Column("ledger_id", BigInteger, ForeignKey("ledger.id"), nullable=False),
    Column("item_record_no", String(30), nullable=False),
    Column("gcode", String(10), nullable=False),
    Column("name", String(250), nullable=False),
    Column("unit1", String(3), nullable=False),
    Column("unit2", String(3), nullable=True),
    Column("balance", BigInteger, nullable=False),  # legal quantity 1, in 1/100000
    Column("balance2", BigInteger, nullable=False),  # legal quantity 2 (0 without a second unit)
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("ledger_id", "item_record_no"),
)

# Every change of a ledger item, append-only: what, how much (signed), from which document, when, by whom.
ledger_movement = Table(
    "ledger_movement",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ledger_id", BigInteger, ForeignKey("ledger.id"), nullable=False),
    Column("item_record_no", String(30), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("qty", BigInteger, nullable=False),  # signed, legal quantity 1 in 1/100000
    Column("qty2", BigInteger, nullable=False),
    Column("ref", String(200), nullable=False),  # idempotency key within (ledger, kind, item)
    Column("doc_no", String(64), nullable=False),  # invtNo, entry number, transfer/disposal/approval number
    Column("doc_line", Integer, nullable=True),  # the list line (gnum) or document line
    Column("moved_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=True),
    Column("batch_id", BigInteger, nullable=True),  # the clearing batch of derived movements
    UniqueConstraint("ledger_id", "kind", "ref", "item_record_no"),
    CheckConstraint(_in("kind", LEDGER_MOVEMENT_KINDS), name="kind"),
    Index(None, "ledger_id", "item_record_no", "moved_at"),
    Index(None, "ledger_id", "moved_at"),
    Index(None, "doc_no"),
)

# 1210 list lines held at 399 because their ledger could not cover them; released when stock arrives.
# Arrival order is the row id (rows are written in the order the lists arrived).
ledger_hold = Table(
    "ledger_hold",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("list_key", String(200), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("ledger_id", BigInteger, ForeignKey("ledger.id"), nullable=False),
    Column("item_record_no", String(30), nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("qty2", BigInteger, nullable=False),
    Column("invt_no", String(32), nullable=True),
    Column("rule", String(8), nullable=False),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("held_at", UtcDateTime(), nullable=False),
    Column("released_at", UtcDateTime(), nullable=True),
    UniqueConstraint("list_key", "gnum"),
    Index(None, "ledger_id", "released_at"),
)

# Stocktakes (盘点): the counted quantity of each item and the book balance as of the count.
stocktake = Table(
    "stocktake",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ledger_id", BigInteger, ForeignKey("ledger.id"), nullable=False),
    Column("counted_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=True),
    Index(None, "ledger_id", "counted_at"),
)

stocktake_line = Table(
    "stocktake_line",
    metadata,
    Column("stocktake_id", BigInteger, ForeignKey("stocktake.id"), nullable=False),
    Column("item_record_no", String(30), nullable=False),
    Column("counted", BigInteger, nullable=False),
    Column("book", BigInteger, nullable=False),
    PrimaryKeyConstraint("stocktake_id", "item_record_no"),
)

# Warehouse-entry details (入库明细单, CEB711) of direct-purchase parcels arriving at a supervised site,
# with the outcome answered in CEB712 (399 accepted, 100 refused with code and reason); derived.
warehouse_entry = Table(
    "warehouse_entry",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("guid", String(64), nullable=False),
    Column("inbox_id", BigInteger, nullable=True),
    Column("sender", String(32), nullable=True),
    Column("customs_code", String(4), nullable=True),
    Column("operator_code", String(32), nullable=True),
    Column("cop_no", String(32), nullable=True),
    Column("bill_no", String(64), nullable=True),
    Column("logistics_code", String(32), nullable=True),
    Column("status", Integer, nullable=False),
    Column("code", String(16), nullable=True),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("batch_id", BigInteger, nullable=True),
    UniqueConstraint("guid"),
    CheckConstraint(_in("status", WAREHOUSE_ENTRY_STATUSES), name="status"),
    Index(None, "operator_code", "id"),
)

warehouse_entry_line = Table(
    "warehouse_entry_line",
    metadata,
    Column("entry_id", BigInteger, ForeignKey("warehouse_entry.id"), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("logistics_no", String(64), nullable=False),
    Column("found", Integer, nullable=False),  # 1 when the waybill was known to cbec
    PrimaryKeyConstraint("entry_id", "gnum"),
    Index(None, "logistics_no"),
)

#: Tables the engine derives from the inbox besides :data:`DERIVED_TABLES` (``rebuild`` empties them; derived
#: ledger movements are deleted by kind, see :func:`cbec.store.ledgers.forget_derived`).
LEDGER_DERIVED_TABLES: tuple[Table, ...] = (warehouse_entry_line, warehouse_entry, ledger_hold)
# --- end of the bonded e-ledger tables ---------------------------------------------------------------------

# --- gate pass and gate decision tables (migration 0011) ---------------------------------------------------
# Input, not derived from the inbox: kept by ``rebuild``.  Weights are integer grams (``*_g``).  Codes and
# statuses are those of the SAS121 gate pass (regime reference §3.11, cbec.rules.gate).
GATE_PASS_STATUSES = ("0", "1", "2", "3", "4", "5", "6")
GATE_PASS_TYPES = ("1", "2", "3", "4", "5", "6")
GATE_BIND_TYPES = ("1", "2", "3")
GATE_RLT_TYPES = ("1", "2", "3")
GATE_DECISIONS = ("LIFT", "STOP")
GATE_HOLD_KINDS = ("hold", "inspection")
GATE_HOLD_TARGETS = ("pass", "vehicle", "list")

# A gate pass (核放单): the vehicle and its load, as filed by the zone enterprise; ``stucd`` is its status.
gate_pass = Table(
    "gate_pass",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("passport_no", String(24), nullable=False),  # Z + customs code + I/E + YYMMDD + 12-digit serial
    Column("owner", String(32), nullable=False),  # the zone enterprise (areainEtpsno) filing it
    Column("etps_preent_no", String(64), nullable=False),  # the enterprise's own number: filing is idempotent
    Column("master_cuscd", String(4), nullable=False),  # customs district of the zone (关区)
    Column("areain_oriact_no", String(32), nullable=True),  # zone ledger (emsNo)
    Column("passport_typecd", String(1), nullable=False),
    Column("bind_typecd", String(1), nullable=False),
    Column("io_typecd", String(1), nullable=False),
    Column("rlt_tb_typecd", String(1), nullable=True),
    Column("rlt_no", String(64), nullable=True),
    Column("vehicle_no", String(16), nullable=False),  # normalised plate (cbec.rules.gate.normalize_plate)
    Column("vehicle_ic_no", String(32), nullable=True),
    Column("vehicle_frame_no", String(32), nullable=True),
    Column("vehicle_wt_g", BigInteger, nullable=False),
    Column("vehicle_frame_wt_g", BigInteger, nullable=False),
    Column("container_no", String(16), nullable=True),
    Column("container_type", String(8), nullable=True),
    Column("container_wt_g", BigInteger, nullable=False),
    Column("total_gross_wt_g", BigInteger, nullable=False),
    Column("total_net_wt_g", BigInteger, nullable=False),
    Column("total_wt_g", BigInteger, nullable=False),
    Column("stucd", String(1), nullable=False),
    Column("pending", Text, nullable=True),  # JSON: why an applied pass is not approved yet
    Column("filed_by", String(64), nullable=False),
    Column("dcl_time", UtcDateTime(), nullable=False),
    Column("approved_at", UtcDateTime(), nullable=True),
    Column("pass_time", UtcDateTime(), nullable=True),
    Column("secd_pass_time", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("passport_no"),
    UniqueConstraint("owner", "etps_preent_no"),
    CheckConstraint(_in("stucd", GATE_PASS_STATUSES), name="stucd"),
    CheckConstraint(_in("passport_typecd", GATE_PASS_TYPES), name="passport_typecd"),
    CheckConstraint(_in("bind_typecd", GATE_BIND_TYPES), name="bind_typecd"),
    CheckConstraint(_in("io_typecd", ("I", "E")), name="io_typecd"),
    Index(None, "vehicle_no", "stucd"),
    Index(None, "vehicle_ic_no", "stucd"),
    Index(None, "owner", "id"),
    Index(None, "master_cuscd", "id"),
)

# The lists (parcels) a pass carries, with their weights when bound.  ``live`` is 1 while the pass is not
# deleted or void and NULL after: a list is on one live pass at most (NULLs never clash in a unique key).
gate_pass_list = Table(
    "gate_pass_list",
    metadata,
    Column("pass_id", BigInteger, ForeignKey("gate_pass.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("list_key", String(200), nullable=False),
    Column("invt_no", String(32), nullable=True),
    Column("logistics_no", String(64), nullable=True),
    Column("gross_wt_g", BigInteger, nullable=False),
    Column("net_wt_g", BigInteger, nullable=False),
    Column("live", Integer, nullable=True),
    PrimaryKeyConstraint("pass_id", "seq"),
    UniqueConstraint("list_key", "live"),
)

# Every vehicle at a gate lane and what was decided (LIFT/STOP, with every reason); idempotent on event_id.
gate_event = Table(
    "gate_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("reporter", String(64), nullable=False),  # who sent it (the gate's operator, an officer)
    Column("lane", String(32), nullable=False),
    Column("gate", String(1), nullable=False),  # S single gate, 1 first, 2 second
    Column("vehicle_no", String(16), nullable=True),
    Column("vehicle_ic_no", String(32), nullable=True),
    Column("container_no", String(16), nullable=True),
    Column("weight_g", BigInteger, nullable=True),
    Column("at", UtcDateTime(), nullable=False),  # when the vehicle was at the gate (the event's time)
    Column("received_at", UtcDateTime(), nullable=False),
    Column("pass_id", BigInteger, nullable=True),
    Column("passport_no", String(24), nullable=True),
    Column("master_cuscd", String(4), nullable=True),
    Column("owner", String(32), nullable=True),  # the pass's owner (who may read the decision)
    Column("decision", String(4), nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of {code, reason_zh, reason_en}
    Column("pass_status_before", String(1), nullable=True),
    Column("pass_status_after", String(1), nullable=True),
    Column("tolerance_g", BigInteger, nullable=True),
    UniqueConstraint("event_id"),
    CheckConstraint(_in("decision", GATE_DECISIONS), name="decision"),
    Index(None, "passport_no"),
    Index(None, "master_cuscd", "id"),
    Index(None, "owner", "id"),
    Index(None, "reporter", "id"),
)

# Holds (布控) and inspection orders (查验指令) an officer places on a pass, a vehicle or a list.
gate_hold = Table(
    "gate_hold",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("target_kind", String(8), nullable=False),
    Column("target", String(200), nullable=False),  # passport_no, normalised plate or IC, list key or invtNo
    Column("district", String(4), nullable=True),  # the officer's district (NULL: an administrator's)
    Column("officer", String(64), nullable=False),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("placed_at", UtcDateTime(), nullable=False),
    Column("lifted_at", UtcDateTime(), nullable=True),
    Column("lifted_by", String(64), nullable=True),
    CheckConstraint(_in("kind", GATE_HOLD_KINDS), name="kind"),
    CheckConstraint(_in("target_kind", GATE_HOLD_TARGETS), name="target_kind"),
    Index(
        "ix_gate_hold_active",
        "target_kind",
        "target",
        sqlite_where=text("lifted_at IS NULL"),
        postgresql_where=text("lifted_at IS NULL"),
    ),
)
# --- end of the gate tables --------------------------------------------------------------------------------

# --- export tables (migration 0012) ------------------------------------------------------------------------
# The export documents themselves are ``document`` rows (kinds x_order, x_receipts, x_waybill, x_list,
# x_cancel, arrival, departure, masterbill), their decisions ``decision`` rows (list_key "E|ebpCode|orderNo")
# and their answers ``receipt`` rows; these tables hold what exports need besides (cbec.engine.export).
EXPORT_MOVEMENT_KINDS = ("arrival", "departure")
EXPORT_REFUND_STATUSES = ("flagged", "provisional")
EXPORT_TRUE_UP_KINDS = ("sold", "returned")

# One row per export list (CEB603): its keys and where it is in 2 → 120 → 399 → 800 → 899.
export_list = Table(
    "export_list",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("list_key", String(200), nullable=False),  # E|ebpCode|orderNo
    Column("guid", String(64), nullable=False),
    Column("invt_no", String(32), nullable=False),
    Column("order_key", String(200), nullable=False),  # ebpCode|orderNo
    Column("waybill_key", String(200), nullable=False),  # logisticsCode|logisticsNo
    Column("trade_mode", String(4), nullable=False),
    Column("statistics_flag", String(1), nullable=False),
    Column("customs_code", String(4), nullable=False),
    Column("ebp_code", String(32), nullable=False),
    Column("order_no", String(64), nullable=False),
    Column("ebc_code", String(32), nullable=False),
    Column("agent_code", String(32), nullable=False),
    Column("cop_no", String(32), nullable=False),
    Column("pre_no", String(18), nullable=False),
    Column("sender", String(64), nullable=False),  # who receives its CEB604 receipts
    Column("status", Integer, nullable=False),
    Column("inbox_id", BigInteger, ForeignKey("inbox.id"), nullable=False),
    Column("declared_at", UtcDateTime(), nullable=False),
    Column("concluded_at", UtcDateTime(), nullable=True),
    Column("released_at", UtcDateTime(), nullable=True),
    Column("cleared_at", UtcDateTime(), nullable=True),  # 899: departure recorded (结关)
    Column("leave_time", UtcDateTime(), nullable=True),  # CEB509 leaveTime
    Column("cancelled_at", UtcDateTime(), nullable=True),
    UniqueConstraint("list_key"),
    UniqueConstraint("guid"),
    UniqueConstraint("invt_no"),
    Index(None, "order_key"),
    Index(None, "waybill_key"),
    Index(None, "status", "declared_at"),
    Index(None, "cleared_at"),
)

# Parcels reported at the supervised site (CEB507 运抵) or leaving the country (CEB509 离境), per line.
export_movement = Table(
    "export_movement",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(9), nullable=False),
    Column("doc_guid", String(64), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("waybill_key", String(200), nullable=False),
    Column("list_key", String(200), nullable=True),  # the list it moved, if any
    Column("customs_code", String(4), nullable=False),
    Column("bill_no", String(64), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("batch_id", BigInteger, nullable=True),
    UniqueConstraint("kind", "doc_guid", "gnum"),
    Index(None, "kind", "waybill_key"),
    CheckConstraint(_in("kind", EXPORT_MOVEMENT_KINDS), name="kind"),
)

# CEB607 master/sub-bill (清单总分单) lines: the transport a parcel leaves on.
export_bill_line = Table(
    "export_bill_line",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("doc_guid", String(64), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("waybill_key", String(200), nullable=False),
    Column("invt_no", String(32), nullable=True),
    Column("bill_no", String(64), nullable=False),
    Column("voyage_no", String(64), nullable=False),
    Column("traf_name", String(100), nullable=False),
    Column("traf_mode", String(1), nullable=False),
    Column("total_package_no", String(64), nullable=True),
    Column("agent_code", String(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    UniqueConstraint("doc_guid", "gnum"),
    Index(None, "waybill_key"),
)

# 9810 lines flagged for the pre-refund (离境即退税, HWC-YT) and their provisional refund at departure;
# what was sold or brought back since is the sum of their export_true_up rows (input, kept by ``rebuild``).
export_refund_line = Table(
    "export_refund_line",
    metadata,
    Column("list_key", String(200), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("invt_no", String(32), nullable=False),
    Column("gcode", String(10), nullable=False),
    Column("qty_e5", BigInteger, nullable=False),  # quantity × 10^5 (N19,5 exactly)
    Column("value_fen", BigInteger, nullable=False),  # CNY value of the line
    Column("refund_rate_bp", Integer, nullable=False),  # basis points (1300 = 13 %)
    Column("provisional_fen", BigInteger, nullable=True),  # set at departure
    Column("provisional_at", UtcDateTime(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("list_key", "gnum"),
    Index(None, "invt_no"),
    CheckConstraint(_in("status", EXPORT_REFUND_STATUSES), name="status"),
)

# Each sale or return recorded against a pre-refunded line; ``event_id`` makes the API call idempotent.
export_true_up = Table(
    "export_true_up",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("list_key", String(200), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("qty_e5", BigInteger, nullable=False),
    Column("repay_fen", BigInteger, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    UniqueConstraint("event_id"),
    Index(None, "list_key", "gnum"),
    CheckConstraint(_in("kind", EXPORT_TRUE_UP_KINDS), name="kind"),
)

#: Export tables the engine derives from the inbox (``rebuild`` empties them; ``export_true_up`` is input).
EXPORT_DERIVED_TABLES: tuple[Table, ...] = (
    export_refund_line,
    export_bill_line,
    export_movement,
    export_list,
)
# --- end of the export tables ------------------------------------------------------------------------------

# --- export return tables (migration 0013) -----------------------------------------------------------------
# Export returns (CEB213 application, CEB215 tally, CEB607 consolidated master bill; engine.export_returns).
# The documents themselves are ``document`` rows (kinds x_return, x_tally, x_return_bill) and their answers
# ``receipt`` rows; ``export_return_site`` is input (the operator's filing of return sites, kept by rebuild).
EXPORT_RETURN_STATUSES = (100, 120, 800)
EXPORT_TALLY_STATUSES = (2, 100, 399)
EXPORT_TAX_BASES = ("exempt", "food", "mode", "window", "no_policy")

# One row per CEB213 application decided: accepted (120), released once its parcel is tallied (800), refused.
export_return = Table(
    "export_return",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("guid", String(64), nullable=False),
    Column("invt_no", String(32), nullable=False),  # the original export list
    Column("co_el_no", String(32), nullable=False),
    Column("ebc_code", String(32), nullable=False),
    Column("agent_code", String(32), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("waybill_key", String(200), nullable=False),  # return parcel: logisticsCode|logisticsNo
    Column("bill_no", String(64), nullable=True),
    Column("customs_code", String(4), nullable=False),  # customs of re-entry (the application's)
    Column("port_code", String(8), nullable=True),
    Column("export_customs", String(4), nullable=True),  # the original list's
    Column("trade_mode", String(4), nullable=True),  # the original list's
    Column("cross_district", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("code", String(16), nullable=True),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("inbox_id", BigInteger, ForeignKey("inbox.id"), nullable=False),
    Column("declared_at", UtcDateTime(), nullable=False),
    Column("released_at", UtcDateTime(), nullable=True),
    Column("batch_id", BigInteger, nullable=True),
    UniqueConstraint("guid"),
    Index(None, "invt_no"),
    Index(None, "waybill_key"),
    Index(None, "bill_no"),
    CheckConstraint(_in("status", EXPORT_RETURN_STATUSES), name="status"),
)

# The lines of accepted applications (quantities exact, ×10^5) and, once released, their tax outcome.
export_return_line = Table(
    "export_return_line",
    metadata,
    Column("return_guid", String(64), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("invt_no", String(32), nullable=False),
    Column("gcode", String(10), nullable=False),
    Column("qty_e5", BigInteger, nullable=False),
    Column("qty1_e5", BigInteger, nullable=True),
    Column("qty2_e5", BigInteger, nullable=True),
    Column("exported_e5", BigInteger, nullable=False),
    Column("tax_exempt", Boolean, nullable=True),  # set at release (goods back)
    Column("tax_basis", String(16), nullable=True),
    Column("tax_source", String(200), nullable=True),
    Column("tax_reason_zh", Text, nullable=True),
    Column("tax_reason_en", Text, nullable=True),
    Column("refund_repay_fen", BigInteger, nullable=True),  # 9810 HWC-YT provisional refund repaid
    Column("refund_note", Text, nullable=True),
    PrimaryKeyConstraint("return_guid", "gnum"),
    Index(None, "invt_no", "gnum"),
    CheckConstraint(_in("tax_basis", EXPORT_TAX_BASES), name="tax_basis"),
)

# One row per CEB215 tally (per parcel, 理货): waiting for its application (2), tallied (399) or refused.
export_return_tally = Table(
    "export_return_tally",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("guid", String(64), nullable=False),
    Column("waybill_key", String(200), nullable=False),
    Column("invt_no", String(32), nullable=True),
    Column("bill_no", String(64), nullable=True),
    Column("customs_code", String(4), nullable=False),
    Column("operator_code", String(32), nullable=False),
    Column("co_el_no", String(32), nullable=False),
    Column("pre_no", String(18), nullable=True),
    Column("location", String(250), nullable=True),
    Column("sender", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("code", String(16), nullable=True),
    Column("reason_zh", Text, nullable=False),
    Column("reason_en", Text, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("tallied_at", UtcDateTime(), nullable=True),
    UniqueConstraint("guid"),
    Index(None, "waybill_key", "status"),
    Index(None, "bill_no"),
    CheckConstraint(_in("status", EXPORT_TALLY_STATUSES), name="status"),
)

# Lines of consolidated return master bills (退货合包, CEB607 whose lines name the original list).
export_return_bill_line = Table(
    "export_return_bill_line",
    metadata,
    Column("doc_guid", String(64), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("bill_no", String(64), nullable=False),
    Column("waybill_key", String(200), nullable=False),
    Column("invt_no", String(32), nullable=False),
    Column("total_package_no", String(64), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("doc_guid", "gnum"),
    Index(None, "bill_no"),
    Index(None, "waybill_key"),
)

# Sites filed by the operator as CBEC retail-export supervised sites (开展跨境电商零售出口业务的海关监管作业
# 场所) able to receive cross-district returns: an independent return area and data open to customs.
export_return_site = Table(
    "export_return_site",
    metadata,
    Column("customs_code", String(4), nullable=False),
    Column("operator_code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("loct_no", String(10), nullable=True),
    Column("cbec_export", Boolean, nullable=False),
    Column("return_area", Boolean, nullable=False),
    Column("data_open", Boolean, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("filed_by", String(64), nullable=False),
    Column("filed_at", UtcDateTime(), nullable=False),
    Column("note", Text, nullable=True),
    PrimaryKeyConstraint("customs_code", "operator_code"),
)

# Import returns (CEB625): when the returned goods were reported back at the original site, zone or B-centre,
# and whether that was within import.retail.return.goods_back_days (45) of the release (A-2020-45).  Input
# (reported by the site or an officer, cbec.store.goods_back), kept by ``rebuild``.
import_return_goods_back = Table(
    "import_return_goods_back",
    metadata,
    Column("return_guid", String(64), nullable=False),
    Column("list_key", String(200), nullable=False),
    Column("back_at", UtcDateTime(), nullable=False),
    Column("deadline", Date, nullable=False),
    Column("on_time", Boolean, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("note", Text, nullable=True),
    PrimaryKeyConstraint("return_guid"),
    Index(None, "list_key"),
)

#: Export return tables the engine derives from the inbox (``rebuild`` empties them; sites are input).
EXPORT_RETURN_DERIVED_TABLES: tuple[Table, ...] = (
    export_return_line,
    export_return_tally,
    export_return_bill_line,
    export_return,
)
# --- end of the export return tables -----------------------------------------------------------------------

# --- summary declaration tables (migration 0014) -----------------------------------------------------------
# The monthly summary declaration (清单核放、汇总申报, cbec.engine.summary): each application (CEB701) of a
# period and consignor — supplement 0 is the month's first, 1.. the supplementary ones for lists cleared
# late —, the declarations it gave (CEB792 declSeqNo), their lines, and which list line went into which
# declaration line.  ``summary_list_line`` is keyed by the list line: a line can be summarised only once.
SUMMARY_APPLICATION_STATUSES = ("declared",)

summary_application = Table(
    "summary_application",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("period", String(7), nullable=False),  # YYYY-MM, China time
    Column("ebc_code", String(32), nullable=False),  # consignor 收发货人
    Column("supplement", Integer, nullable=False),  # 0 first, 1.. supplementary 补充申报
    Column("sum_no", String(18), nullable=False),  # CEB702 sumNo
    Column("pre_no", String(18), nullable=False),
    Column("cop_no", String(30), nullable=False),
    Column("customs_code", String(4), nullable=False),
    Column("agent_code", String(32), nullable=False),  # 申报单位, also 报关单位 of the declarations
    Column("agent_name", String(100), nullable=False),
    Column("ebc_name", String(100), nullable=False),
    Column("summary_flag", String(1), nullable=False),
    Column("item_name_flag", String(1), nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_date", String(10), nullable=False),  # ISO date: the 15th of next month past holidays
    Column("lists", Integer, nullable=False),
    Column("declarations", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("period", "ebc_code", "supplement"),
    UniqueConstraint("sum_no"),
    Index(None, "ebc_code", "period"),
    CheckConstraint(_in("status", SUMMARY_APPLICATION_STATUSES), name="status"),
)

# One summarised export declaration (报关单) of an application: the head keys of §6.2 and its totals.
summary_declaration = Table(
    "summary_declaration",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("application_id", BigInteger, ForeignKey("summary_application.id"), nullable=False),
    Column("decl_no", Integer, nullable=False),  # 1.. within the application
    Column("decl_seq_no", String(18), nullable=False),  # CEB792 declSeqNo (汇总统一编号)
    Column("traf_mode", String(1), nullable=True),
    Column("owner_code", String(32), nullable=True),
    Column("arrival_country", String(3), nullable=True),
    Column("port_code", String(4), nullable=True),
    Column("trade_mode", String(4), nullable=True),
    Column("owner_name", String(100), nullable=True),
    Column("lists", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("gross_weight_e5", BigInteger, nullable=False),  # kg × 10^5
    Column("net_weight_e5", BigInteger, nullable=False),
    Column("cleared_from", UtcDateTime(), nullable=True),
    Column("cleared_to", UtcDateTime(), nullable=True),
    UniqueConstraint("application_id", "decl_no"),
    UniqueConstraint("decl_seq_no"),
)

# The lines of a declaration: final destination, 10-digit HS code, currency (and units, item name) summed.
summary_declaration_line = Table(
    "summary_declaration_line",
    metadata,
    Column("declaration_id", BigInteger, ForeignKey("summary_declaration.id"), nullable=False),
    Column("gseqno", Integer, nullable=False),
    Column("destination_country", String(3), nullable=True),
    Column("gcode", String(10), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("item_name", String(250), nullable=True),
    Column("gname", String(250), nullable=True),
    Column("unit", String(3), nullable=True),
    Column("qty_e5", BigInteger, nullable=True),  # null: the lists used different transaction units
    Column("unit1", String(3), nullable=True),
    Column("qty1_e5", BigInteger, nullable=True),
    Column("unit2", String(3), nullable=True),
    Column("qty2_e5", BigInteger, nullable=True),
    Column("total_price_e5", BigInteger, nullable=False),  # in ``currency`` × 10^5 (N19,5 exactly)
    Column("lists", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    PrimaryKeyConstraint("declaration_id", "gseqno"),
)

# Every summarised list line → its declaration line (CEB792 body).  The primary key is the list line.
summary_list_line = Table(
    "summary_list_line",
    metadata,
    Column("invt_no", String(32), nullable=False),
    Column("gnum", Integer, nullable=False),
    Column("gcode", String(10), nullable=True),
    Column("logistics_no", String(64), nullable=True),
    Column("application_id", BigInteger, ForeignKey("summary_application.id"), nullable=False),
    Column("declaration_id", BigInteger, ForeignKey("summary_declaration.id"), nullable=False),
    Column("gseqno", Integer, nullable=False),
    PrimaryKeyConstraint("invt_no", "gnum"),
    Index(None, "declaration_id", "gseqno"),
    Index(None, "application_id"),
)
# --- end of the summary declaration tables -----------------------------------------------------------------
