"""Shared by the steps that act on lists after their first decision (review, inspection, cancellation,
return, closing): reading a stored list back, moving its status, giving back quota and tax, and writing the
receipts (CEB622 for the list, CEB818 for a voided e-tax bill) into the outbox.

The store keeps a list's keys and status; the list itself is the raw CEB621 message in the inbox, decoded
again here when its fields are needed (receipts, identity checks, the lines of a return).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine

from cbec.engine.normalize import from_batch
from cbec.messages.columns import decode_batch
from cbec.messages.encode_columns import encode_documents, encode_receipts
from cbec.store import aftercare as store
from cbec.store import decisions as decisions_repo
from cbec.store import outbox as outbox_repo
from cbec.store import packed_xml
from cbec.store import quota as quota_repo
from cbec.store import tax as tax_repo

#: Fields of a list head the aftercare steps need (receipts, identity checks, tax of the lines).
HEAD_FIELDS = [
    "guid",
    "list_key",
    "customsCode",
    "ebpCode",
    "ebcCode",
    "agentCode",
    "assureCode",
    "copNo",
    "orderNo",
    "declTime",
    "logisticsNo",
    "buyerIdNumber",
    "buyerName",
    "freight",
    "insuredFee",
    "tradeMode",  # with emsNo: whether a bonded ledger governs the list (cbec.engine.ledger)
    "emsNo",
]


@dataclass
class StoredLists:
    """Lists read back from the store: their refs and their decoded heads and lines."""

    refs: dict[str, store.ListRef]
    heads: pl.DataFrame  # HEAD_FIELDS, one row per list
    lines: pl.DataFrame  # the list lines, with list_key

    def head(self, list_key: str) -> dict[str, object]:
        rows = self.heads.filter(pl.col("list_key") == list_key)
        return rows.row(0, named=True) if rows.height else {}


def load(conn: Connection, list_keys: Iterable[str], *, for_update: bool = False) -> StoredLists:
    """The stored lists with these keys, decoded again from their raw messages (absent keys are left out)."""
    refs = store.list_refs(conn, list_keys, for_update=for_update)
    if not refs:
        return StoredLists(refs, pl.DataFrame(schema={f: pl.String() for f in HEAD_FIELDS}), pl.DataFrame())
    raws = store.raw_messages(conn, {r.inbox_id for r in refs.values()})
    ids = sorted(raws)
    batch = decode_batch([raws[i] for i in ids])
    docs = from_batch(batch, received_at=datetime(1970, 1, 1), rejected=set())
    wanted = pl.DataFrame(
        {"guid": [r.guid for r in refs.values()], "list_key": list(refs)},
        schema={"guid": pl.String(), "list_key": pl.String()},
    )
    heads = (
        docs.lists.join(wanted, on=["guid", "list_key"], how="semi")
        .unique("guid", keep="first", maintain_order=True)
        .select(HEAD_FIELDS)
    )
    lines = docs.list_lines
    if lines.height:
        lines = lines.join(
            heads.select(pl.col("guid").alias("list_guid"), "list_key"),
            on=["list_guid", "list_key"],
            how="semi",
        ).unique(["list_guid", "gnum"], keep="first", maintain_order=True)
    return StoredLists(refs, heads, lines)


# --- receipts -------------------------------------------------------------------------------------------
def naive_utc(at: datetime) -> datetime:
    """Receipts carry times as the engine does: naive, meaning UTC."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def aware_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def pre_no(guid: pl.Expr, day: pl.Expr) -> pl.Expr:
    """电子口岸标识编号 (pre-entry no.): B + date + 9 digits from the guid.

    The clearance engine writes it the same way, so a list's later receipts carry its first preNo.
    """
    return pl.concat_str(
        [
            pl.lit("B"),
            day.dt.strftime("%Y%m%d"),
            (guid.hash(seed=7) % 1_000_000_000).cast(pl.String).str.zfill(9),
        ]
    )


def return_info(code: str | None, zh: str, en: str) -> str:
    """The receipt text the clearance engine writes: the code (if any), then 中文 / English."""
    return f"{code or ''} {zh} / {en}".strip()[:1000]


def _root_guid(xml: bytes) -> str:
    start = xml.find(b'guid="') + 6
    return xml[start : start + 36].decode()


def _receipts(message_type: str, frame: pl.DataFrame) -> list[outbox_repo.Receipt]:
    out = []
    for (recipient,), group in frame.group_by(["recipient"], maintain_order=True):
        to = str(recipient or "unknown")
        # a receipt about one list is filed under that list's key, so the parcel's history finds it
        key = (
            str(group["list_key"][0])
            if "list_key" in group.columns and group["list_key"].n_unique() == 1
            else to
        )
        for xml in encode_receipts(message_type, group):
            out.append(outbox_repo.Receipt(message_type, to, key[:200], _root_guid(xml), 0, xml))
    return out


@dataclass
class ListReceipt:
    """One CEB622 receipt to send for a list."""

    list_key: str
    status: int
    info: str
    at: datetime


def list_receipts(lists: StoredLists, rows: Sequence[ListReceipt]) -> list[outbox_repo.Receipt]:
    """CEB622 receipts (to the enterprise that sent each list), ≤ 100 per message."""
    if not rows:
        return []
    wanted = pl.DataFrame(
        {
            "list_key": [r.list_key for r in rows],
            "returnStatus": [str(r.status) for r in rows],
            "returnInfo": [r.info for r in rows],
            "returnTime": [naive_utc(r.at) for r in rows],
            "invtNo": [lists.refs[r.list_key].invt_no for r in rows],
            "recipient": [lists.refs[r.list_key].sender for r in rows],
        },
        schema={
            "list_key": pl.String(),
            "returnStatus": pl.String(),
            "returnInfo": pl.String(),
            "returnTime": pl.Datetime("us"),
            "invtNo": pl.String(),
            "recipient": pl.String(),
        },
    )
    frame = wanted.join(lists.heads, on="list_key", how="inner").with_columns(
        pl.coalesce(pl.col("copNo"), pl.col("orderNo").str.slice(0, 20)).alias("copNo"),
        pre_no(pl.col("guid"), pl.col("declTime")).alias("preNo"),
    )
    return _receipts("CEB622Message", frame)


def application_receipts(message_type: str, frame: pl.DataFrame) -> list[outbox_repo.Receipt]:
    """CEB624 / CEB626 receipts from the application heads (``recipient``, ``returnStatus`` … columns)."""
    if frame.height == 0:
        return []
    return _receipts(message_type, frame)


@dataclass
class VoidedBill:
    list_key: str
    tax_no: str
    invt_no: str


def tax_status_receipts(
    lists: StoredLists, voided: Sequence[VoidedBill], at: datetime
) -> list[outbox_repo.Receipt]:
    """CEB818 (电子税单状态): the bills now void (status 3), to the enterprise that received their CEB816."""
    if not voided:
        return []
    frame = (
        pl.DataFrame(
            {
                "list_key": [v.list_key for v in voided],
                "taxNo": [v.tax_no for v in voided],
                "invtNo": [v.invt_no for v in voided],
                "recipient": [lists.refs[v.list_key].sender for v in voided],
            },
            schema={
                "list_key": pl.String(),
                "taxNo": pl.String(),
                "invtNo": pl.String(),
                "recipient": pl.String(),
            },
        )
        .join(lists.heads.select("list_key", "guid", "assureCode", "ebcCode"), on="list_key", how="left")
        .sort("recipient", "invtNo")
        .with_columns(
            pl.lit(naive_utc(at)).alias("returnTime"),
            pl.lit(str(tax_repo.VOID)).alias("status"),
            pl.coalesce("assureCode", "ebcCode").alias("assureCode"),
            (pl.int_range(pl.len()).over("recipient") // 100).alias("_chunk"),
            pl.int_range(pl.len()).alias("_doc"),
        )
    )
    frame = frame.with_columns(pl.struct("recipient", "_chunk").rank("dense").cast(pl.Int64).alias("_msg"))
    recipients = dict(frame.select("_msg", "recipient").unique().iter_rows())
    cols = ["_msg", "_doc", "guid", "returnTime", "invtNo", "taxNo", "status", "assureCode"]
    out = []
    for msg, xml in encode_documents("CEB818Message", frame.select(cols)):
        to = str(recipients.get(msg) or "unknown")
        out.append(outbox_repo.Receipt("CEB818Message", to, to, _root_guid(xml), 0, xml))
    return out


# --- status and ledgers ---------------------------------------------------------------------------------
def record_move(
    conn: Connection,
    ref: store.ListRef,
    to_status: int,
    *,
    rule: str,
    reason_zh: str,
    reason_en: str,
    at: datetime,
    code: str | None = None,
    batch_id: int | None = None,
) -> bool:
    """Move a list from its current status (as read) to ``to_status`` and log the decision.

    False, with nothing written, when the list is no longer at the status read (someone moved it since).
    """
    if not store.move_status(conn, ref.list_key, ref.status, to_status):
        return False
    decisions_repo.record(
        conn,
        [
            decisions_repo.Decision(
                list_key=ref.list_key,
                status=to_status,
                rule=rule,
                reason_zh=reason_zh,
                reason_en=reason_en,
                invt_no=ref.invt_no,
                code=code,
                batch_id=batch_id,
                decided_at=aware_utc(at),
            )
        ],
    )
    return True


@dataclass
class GivenBack:
    quota_fen: int = 0
    """Quota given back (≤ 0)."""
    tax_fen: int = 0
    """Tax no longer due or refunded (≤ 0)."""
    voided: list[VoidedBill] = field(default_factory=list)


def give_back_all(conn: Connection, list_keys: Sequence[str], *, at: datetime) -> dict[str, GivenBack]:
    """For lists that will not be imported after all: the quota they still hold goes back to the buyer
    (movement ``cancel``) and their e-tax bill becomes void (status 3, with a ``void`` adjustment for what
    was still due — a refund if the bill had already been summarised into a payment notice)."""
    accepted = store.accepted_quota(conn, list_keys)
    back = store.returned(conn, list_keys)
    bills = tax_repo.bills_by_list_keys(conn, list_keys)
    adjustments = tax_repo.adjustments_by_tax_nos(conn, [b.tax_no for b in bills.values()])
    out: dict[str, GivenBack] = {k: GivenBack() for k in list_keys}
    movements = []
    for key in list_keys:
        q = accepted.get(key)
        if q is not None:
            left = q.amount_fen - sum(line.dutiable_fen for line in back.get(key, {}).values())
            if left > 0:
                movements.append(quota_repo.QuotaMovement(q.buyer_key, q.year, key, "cancel", -left))
                out[key].quota_fen = -left
    quota_repo.apply(conn, movements)
    voids = []
    for key, bill in bills.items():
        if key not in out or bill.status == tax_repo.VOID:
            continue
        duty, vat, ct = bill.customs_tax_fen, bill.vat_fen, bill.ct_fen
        for a in adjustments.get(bill.tax_no, []):
            duty, vat, ct = duty + a.customs_tax_fen, vat + a.vat_fen, ct + a.ct_fen
        voids.append(
            tax_repo.TaxAdjustment(
                bill.tax_no,
                "void",
                tax_repo.VOID_KIND,
                -duty,
                -vat,
                -ct,
                refund=bill.status == tax_repo.SUMMARISED,
            )
        )
        out[key].tax_fen = -(duty + vat + ct)
        out[key].voided.append(VoidedBill(key, bill.tax_no, bill.invt_no))
    tax_repo.record_adjustments(conn, voids)
    tax_repo.set_bill_status(conn, [v.tax_no for v in voids], tax_repo.VOID)
    return out


def deliver(engine: Engine, outbox: Path | None) -> int:
    """Write undelivered receipts as files (one folder per recipient) and mark them delivered."""
    if outbox is None:
        return 0
    done = 0
    while True:
        with engine.begin() as conn:
            rows = outbox_repo.undelivered(conn, limit=1000)
            if not rows:
                return done
            write_receipt_files(outbox, [receipt_file(r.id, r) for r in rows])
            outbox_repo.mark_delivered(conn, [r.id for r in rows])
            done += len(rows)


#: A receipt file to write: outbox id, recipient (the folder), file name, XML or its stored form.
ReceiptFile = tuple[int, str, str, bytes]


def receipt_file(id_: int, receipt: outbox_repo.Receipt | outbox_repo.ReceiptRow) -> ReceiptFile:
    """``<recipient>/<type>-<guid>.xml``: named by content, so writing it again is harmless."""
    return (id_, receipt.recipient, f"{receipt.message_type}-{receipt.doc_guid}.xml", receipt.xml)


def write_receipt_files(outbox: Path, files: Sequence[ReceiptFile]) -> list[int]:
    """Write receipt files and give back their outbox ids.

    Module-level and fed plain tuples so that a receipt worker process can run it: unpacking and writing
    the XML (about 3.6 GB for a million parcels) then costs the clearing process nothing but the hand-over.
    """
    made: set[str] = set()
    for _, recipient, name, xml in files:
        folder = outbox / recipient
        if recipient not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(recipient)
        (folder / name).write_bytes(packed_xml.unpack(xml))
    return [f[0] for f in files]
