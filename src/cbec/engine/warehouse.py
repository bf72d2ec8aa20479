"""Warehouse-entry details (入库明细单, CEB711) of direct-purchase (9610) parcels arriving at a supervised
site, answered with CEB712.

The site operator (监管场所经营人) tells customs which waybills entered its site (regime reference §2.4: head
with the site operator, transport and master bill; one line per waybill).  :func:`process` handles the CEB711
messages of a clearing batch inside the batch's transaction, like the cancellations and returns of
:mod:`cbec.engine.aftercare`.  Who may send one is checked at intake (:mod:`cbec.rights.send`: the sender must
be the ``operatorCode``); here, in order, with the official codes of the CEB711 family:

* ``appType`` 1 (new) only — cbec keeps no draft or modification of entries (−800001);
* ``ieFlag`` I (this is an import flow) (−800001);
* at least one line (−800000); each line number ``gnum`` once and each ``logisticsNo`` once (−800001);
* every waybill known to cbec: a CEB511 of the head's ``logisticsCode`` with that number was received
  (−800001, naming the first unknown ones).  Lists are not looked up: a list is keyed by its order, and the
  waybill is what the site sees on the parcel.

Every entry is stored with its lines, a refused one too, so the site and customs can see which waybill was
not declared (read back through :mod:`cbec.store.warehouse_entries`).  An accepted entry gets 120 then 399
(receipt statuses of CEB712: 1, 2, 3, 4, 100, 120, 399); a refused one 100 with the code and the reason in
中文 / English.  Idempotent by guid: a repeat gets no second receipt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection

from cbec.engine import lists as L
from cbec.messages.columns import ColumnBatch
from cbec.store import documents as documents_repo
from cbec.store import outbox as outbox_repo
from cbec.store import warehouse_entries as repo

MESSAGE = "CEB711Message"
RECEIPT = "CEB712Message"
HEAD = (MESSAGE, "DeliveryHead")
LINES = (MESSAGE, "DeliveryList")
ACCEPTED, CONCLUDED, REFUSED = 120, 399, 100


class _Refusal(Exception):
    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


def _gnum(line: dict[str, Any], index: int) -> int:
    """The line's own number; its position from 1 when it has none a column can hold."""
    try:
        given = int(str(line.get("gnum") or "").strip())
    except ValueError:
        return index + 1
    return given if 0 < given < 2**31 else index + 1


def _stored_lines(lines: list[dict[str, Any]], code: str, waybills: set[str]) -> list[dict[str, Any]]:
    """The lines as stored, with whether cbec knew each waybill; numbered by position when the sender's
    numbers repeat (such an entry is refused, and its lines are still worth showing)."""
    gnums = [_gnum(line, i) for i, line in enumerate(lines)]
    if len(set(gnums)) != len(gnums):
        gnums = list(range(1, len(lines) + 1))
    return [
        {
            "gnum": g,
            "logistics_no": str(line.get("logisticsNo") or "")[:64],
            "found": int(f"{code}|{str(line.get('logisticsNo') or '').strip()}" in waybills),
        }
        for g, line in zip(gnums, lines, strict=True)
    ]


def _check(head: dict[str, Any], lines: list[dict[str, Any]], known_waybills: set[str]) -> None:
    if str(head.get("appType") or "") != "1":
        raise _Refusal(
            "-800001",
            "校验不通过，cbec只受理新增（appType=1）的入库明细单",
            "Validation failed: cbec accepts only new (appType 1) warehouse-entry details",
        )
    if str(head.get("ieFlag") or "").upper() != "I":
        raise _Refusal(
            "-800001",
            "校验不通过，入库明细单进出口标记ieFlag应为I（进口）",
            "Validation failed: the warehouse-entry detail's ieFlag must be I (import)",
        )
    if not lines:
        raise _Refusal("-800000", "入库明细单表体信息不存在", "Warehouse-entry detail has no lines")
    gnums = [_gnum(line, i) for i, line in enumerate(lines)]
    again = sorted({g for g in gnums if gnums.count(g) > 1})
    if again:
        raise _Refusal(
            "-800001",
            f"校验不通过，表体序号gnum {again[0]}重复",
            f"Validation failed: line number gnum {again[0]} appears twice",
        )
    numbers = [str(line.get("logisticsNo") or "").strip() for line in lines]
    dup = sorted({n for n in numbers if numbers.count(n) > 1})
    if dup:
        raise _Refusal(
            "-800001", f"校验不通过，运单号{dup[0]}重复", f"Validation failed: waybill {dup[0]} appears twice"
        )
    code = str(head.get("logisticsCode") or "")
    missing = [n for n in numbers if f"{code}|{n}" not in known_waybills]
    if missing:
        shown = "、".join(missing[:3]) + ("…" if len(missing) > 3 else "")
        raise _Refusal(
            "-800001",
            f"校验不通过，物流企业{code}的运单{shown}未申报",
            f"Validation failed: no waybill {', '.join(missing[:3])} of logistics enterprise {code} "
            "was declared",
        )


def process(
    conn: Connection,
    batch: ColumnBatch,
    indices: Iterable[int],
    *,
    now: datetime,
    inbox_ids: Mapping[int, int] | None = None,
    batch_id: int | None = None,
) -> tuple[list[outbox_repo.Receipt], dict[str, int]]:
    """Decide the CEB711 messages among ``indices``; store them; return the CEB712 receipts and counts
    (``entry_accepted``, ``entry_refused``, ``repeats``)."""
    types = batch.messages["message_type"]
    wanted = sorted(i for i in set(indices) if types[i] == MESSAGE)
    heads = batch.tables.get(HEAD)
    if not wanted or heads is None or heads.height == 0:
        return [], {}
    heads = heads.filter(pl.col("_msg").is_in(wanted)).sort("_msg", "_doc")
    senders = dict(batch.messages.select("_msg", "copCode").iter_rows())
    table = batch.tables.get(LINES)
    lines_of: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    if table is not None and table.height:
        for row in (
            table.filter(pl.col("_msg").is_in(wanted)).sort("_msg", "_doc", "_line").iter_rows(named=True)
        ):
            lines_of[(row["_msg"], row["_doc"])].append(row)
    known = repo.known_entry_guids(conn, heads["guid"].to_list())
    keys = [
        f"{h['logisticsCode']}|{str(line.get('logisticsNo') or '').strip()}"
        for h in heads.iter_rows(named=True)
        for line in lines_of[(h["_msg"], h["_doc"])]
    ]
    waybills = documents_repo.existing_keys(conn, "waybill", keys)
    counts: dict[str, int] = defaultdict(int)
    rows: list[dict[str, Any]] = []
    at = L.aware_utc(now)
    seen: set[str] = set()
    for head in heads.iter_rows(named=True):
        guid = str(head["guid"])
        if guid in known or guid in seen:
            counts["repeats"] += 1
            continue
        seen.add(guid)
        lines = lines_of[(head["_msg"], head["_doc"])]
        sender = senders.get(head["_msg"])
        code: str | None = None
        try:
            _check(head, lines, waybills)
        except _Refusal as r:
            status, code, zh, en = REFUSED, r.code, r.zh, r.en
            counts["entry_refused"] += 1
        else:
            status = CONCLUDED
            zh = f"入库明细单已入库，运单{len(lines)}票"
            en = f"warehouse-entry detail accepted: {len(lines)} waybills"
            counts["entry_accepted"] += 1
        repo.record_entry(
            conn,
            {
                "guid": guid[:64],
                "inbox_id": inbox_ids.get(head["_msg"]) if inbox_ids else None,
                "sender": (sender or None) and str(sender)[:32],
                "customs_code": (head.get("customsCode") or None) and str(head["customsCode"])[:4],
                "operator_code": (head.get("operatorCode") or None) and str(head["operatorCode"])[:32],
                "cop_no": (head.get("copNo") or None) and str(head["copNo"])[:32],
                "bill_no": (head.get("billNo") or None) and str(head["billNo"])[:64],
                "logistics_code": (head.get("logisticsCode") or None) and str(head["logisticsCode"])[:32],
                "status": status,
                "code": code,
                "reason_zh": zh,
                "reason_en": en,
                "received_at": at,
                "batch_id": batch_id,
            },
            _stored_lines(lines, str(head.get("logisticsCode") or ""), waybills),
        )
        base = {
            "recipient": sender,
            "guid": guid,
            "customsCode": head.get("customsCode"),
            "operatorCode": head.get("operatorCode"),
            "copNo": head.get("copNo"),
            "preNo": head.get("preNo") if head.get("preNo") and len(str(head["preNo"])) <= 18 else None,
            "rkdNo": head.get("rkdNo"),
        }
        if status == CONCLUDED:
            rows.append(
                {
                    **base,
                    "returnStatus": str(ACCEPTED),
                    "returnTime": L.naive_utc(at),
                    "returnInfo": L.return_info(None, "海关入库", "accepted into customs' system"),
                }
            )
            rows.append(
                {
                    **base,
                    "returnStatus": str(CONCLUDED),
                    "returnTime": L.naive_utc(at + timedelta(milliseconds=1)),
                    "returnInfo": L.return_info(None, zh, en),
                }
            )
        else:
            rows.append(
                {
                    **base,
                    "returnStatus": str(REFUSED),
                    "returnTime": L.naive_utc(at),
                    "returnInfo": L.return_info(code, zh, en),
                }
            )
    if not rows:
        return [], dict(counts)
    frame = pl.DataFrame(
        rows,
        schema={
            "recipient": pl.String(),
            "guid": pl.String(),
            "customsCode": pl.String(),
            "operatorCode": pl.String(),
            "copNo": pl.String(),
            "preNo": pl.String(),
            "rkdNo": pl.String(),
            "returnStatus": pl.String(),
            "returnTime": pl.Datetime("us"),
            "returnInfo": pl.String(),
        },
    )
    return L.application_receipts(RECEIPT, frame), dict(counts)
