"""Import lists carry their waybill and order numbers (``document.logistics_no/logistics_code/order_no``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25

A gate pass names the lists it carries by ``invtNo``, by the parcel's waybill number or by its order number.
Until now the last two were found by scanning ``document.business_key`` with ``LIKE '%|…'`` and decoding
the waybill's message for every candidate; with years of documents that is a full scan per list bound.
The CEB621 list head itself carries ``logisticsNo``, ``logisticsCode`` and ``orderNo``, so the clearing step
now writes them on the list's ``document`` row (NULL for every other kind), and two partial indexes
(rows with a number only) make each look-up an index search.

Back-fill: every stored list is decoded again from the inbox message it came in (``document.inbox_id``, the
record replay itself works from), with the same decoder and normaliser the clearing step uses, page by page
so memory stays bounded.  Messages stored encrypted (``zlib-gcm``) are opened with the database's data key,
as the store reads them; without the key the upgrade stops, as clearing itself would.  A list whose message
cannot be decoded keeps NULLs and can still be named by ``invtNo``.  Like revision 0008's downgrade, the
revision calls cbec's own code for data only (the data key, the message decoder), never its table
definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Lists back-filled per page (their messages are decoded together).
PAGE = 2000
COLUMNS = (
    ("logistics_no", "logisticsNo", 64),
    ("logistics_code", "logisticsCode", 32),
    ("order_no", "orderNo", 64),
)


def _numbers(conn: sa.Connection, docs: Sequence[Any]) -> list[dict[str, Any]]:
    """The numbers of these list documents (id, guid, inbox_id), decoded from their messages."""
    # data, not table definitions: the codecs and decoder the clearing step reads messages with
    import zlib

    import polars as pl

    from cbec.engine.normalize import from_batch
    from cbec.messages.columns import decode_batch
    from cbec.privacy.crypto import open_sealed
    from cbec.store.data_key import keyring_for

    ids = sorted({int(d.inbox_id) for d in docs})
    stmt = sa.text("SELECT id, raw, raw_codec FROM inbox WHERE id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    raws = []
    for id_, stored, codec in conn.execute(stmt, {"ids": ids}):
        raw = bytes(stored)
        if codec == "zlib-gcm":  # compressed, then sealed with the data key (revision 0008)
            raw = zlib.decompress(open_sealed(raw, keyring_for(conn), b"inbox.raw"))
        elif codec == "zlib":
            raw = zlib.decompress(raw)
        raws.append((int(id_), raw))
    if not raws:
        return []
    lists = from_batch(
        decode_batch([raw for _, raw in raws]), received_at=datetime(1970, 1, 1), rejected=set()
    ).lists
    if lists.height == 0:
        return []
    inbox_of = pl.DataFrame(
        {"_msg": range(len(raws)), "inbox_id": [i for i, _ in raws]},
        schema={"_msg": lists.schema["_msg"], "inbox_id": pl.Int64()},
    )
    wanted = pl.DataFrame(
        {
            "id": [int(d.id) for d in docs],
            "guid": [d.guid for d in docs],
            "inbox_id": [int(d.inbox_id) for d in docs],
        },
        schema={"id": pl.Int64(), "guid": pl.String(), "inbox_id": pl.Int64()},
    )
    found = (
        lists.join(inbox_of, on="_msg")
        .select(
            "guid",
            "inbox_id",
            *(
                # a value too long for its column is left NULL rather than cut (a cut number names nothing)
                pl.when(pl.col(name).str.len_chars() <= size).then(pl.col(name)).alias(column)
                for column, name, size in COLUMNS
            ),
        )
        .unique(["guid", "inbox_id"], keep="first")
        .join(wanted, on=["guid", "inbox_id"])
    )
    return found.select("id", *(c for c, _, _ in COLUMNS)).to_dicts()


def _backfill() -> None:
    conn = op.get_bind()
    page = sa.text(
        "SELECT id, guid, inbox_id FROM document WHERE kind = 'list' AND id > :last ORDER BY id LIMIT :n"
    )
    fill = sa.text(
        "UPDATE document SET logistics_no = :logistics_no, logistics_code = :logistics_code,"
        " order_no = :order_no WHERE id = :id"
    )
    last = 0
    while True:
        docs = conn.execute(page, {"last": last, "n": PAGE}).all()
        if not docs:
            return
        last = int(docs[-1].id)
        rows = _numbers(conn, docs)
        if rows:
            conn.execute(fill, rows)


def upgrade() -> None:
    for column, _name, size in COLUMNS:
        op.add_column("document", sa.Column(column, sa.String(size), nullable=True))
    _backfill()
    # the indexes are built once over the back-filled rows rather than kept up row by row
    op.create_index(
        "ix_document_list_logistics_no",
        "document",
        ["kind", "logistics_no", "logistics_code"],
        sqlite_where=sa.text("logistics_no IS NOT NULL"),
        postgresql_where=sa.text("logistics_no IS NOT NULL"),
    )
    op.create_index(
        "ix_document_list_order_no",
        "document",
        ["kind", "order_no"],
        sqlite_where=sa.text("order_no IS NOT NULL"),
        postgresql_where=sa.text("order_no IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_document_list_order_no", table_name="document")
    op.drop_index("ix_document_list_logistics_no", table_name="document")
    with op.batch_alter_table("document") as batch:
        for column, _name, _size in reversed(COLUMNS):
            batch.drop_column(column)
