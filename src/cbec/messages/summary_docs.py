"""The summary-declaration messages: the CEB701 application and the CEB702 / CEB792 receipts.

:mod:`cbec.rules.summary` decides the grouping; this module turns one application of it into the messages
that travel (through the strict record writer, so what comes out validates against the official export XSD):

* **CEB701** (汇总申请): sent by the consignor or its agent. Either lists the ``invtNo``s, or gives the
  month as a ``startTime``/``endTime`` window (then customs takes every list cleared in the window and the
  body is ignored). A window can only be used for a month's first application: a supplementary one (补充)
  must name its lists, or it would sweep up lists summarised before. A long list of numbers is split into
  several documents numbered by ``msgSeqNo``/``msgCount`` (the spec's own split mechanism).
* **CEB702** (汇总申请回执): the answer to the application, with the summary number ``sumNo``.
* **CEB792** (汇总结果): one document per resulting declaration — ``declSeqNo`` (汇总统一编号, 1:1 with a
  customs declaration), weights, and the mapping of every list line to its declaration line (``gseqno``).

Numbers customs would assign (``preNo``, ``sumNo``, ``declSeqNo``) are derived deterministically from what
the caller passes, so building the same application twice gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.messages.signature import SigningIdentity, requires_signature
from cbec.rules.summary import period_bounds

__all__ = [
    "Declarant",
    "apply_cop_no",
    "ceb701",
    "ceb702",
    "ceb792",
    "decl_seq_no",
    "sum_no",
]

#: Lists named in one CEB701 document; more are split over documents (msgSeqNo 1..msgCount).
LISTS_PER_DOCUMENT = 10_000
#: Documents per message (the XSDs allow at most 100).
DOCUMENTS_PER_MESSAGE = 100


@dataclass(frozen=True, slots=True)
class Declarant:
    """Who applies and who will file the declarations (the CEB701/792 parties)."""

    customs_code: str  # 申报地海关 (4 digits)
    agent_code: str  # 申报单位 (the list's declaring enterprise)
    agent_name: str
    ebc_name: str  # 收发货人名称 (the consignor's registered name)
    decl_agent_code: str  # 报关单位: the customs broker that files the declarations
    decl_agent_name: str
    dxp_id: str = "DXPENT0000000001"
    loct_no: str | None = None


def apply_cop_no(period: str, ebc_code: str, supplement: int) -> str:
    """The enterprise's number of an application (C..30): month, supplement, consignor — unique per triple."""
    year, month = period_bounds(period)[0].year, period_bounds(period)[0].month
    return f"SUM{year:04d}{month:02d}{supplement:02d}{ebc_code}"[:30]


def sum_no(customs_code: str, year: int, serial: int) -> str:
    """A summary application number (C18): customs district, year, ``S``, 9-digit serial."""
    return f"{customs_code}{year:04d}S{serial:09d}"


def decl_seq_no(customs_code: str, year: int, serial: int) -> str:
    """A summary unified number (C18, 1:1 with a customs declaration): district, year, ``D``, serial."""
    return f"{customs_code}{year:04d}D{serial:09d}"


def _transfer(declarant: Declarant) -> dict[str, Any]:
    return {
        "copCode": declarant.agent_code,
        "copName": declarant.agent_name,
        "dxpMode": "DXP",
        "dxpId": declarant.dxp_id,
    }


def _messages(
    message_type: str,
    documents: Sequence[OutDocument],
    *,
    transfer: dict[str, Any] | None = None,
    signer: SigningIdentity | None = None,
) -> list[bytes]:
    out = []
    for k in range(0, len(documents), DOCUMENTS_PER_MESSAGE):
        out.append(
            encode(message_type, documents[k : k + DOCUMENTS_PER_MESSAGE], transfer=transfer, signer=signer)
        )
    return out


def ceb701(
    *,
    period: str,
    ebc_code: str,
    supplement: int,
    invt_nos: Sequence[str],
    declarant: Declarant,
    summary_flag: str,
    item_name_flag: bool,
    app_time: datetime,
    window: bool = False,
    app_status: str = "2",
    signer: SigningIdentity | None = None,
    lists_per_document: int = LISTS_PER_DOCUMENT,
) -> list[bytes]:
    """The CEB701 message(s) of one application (period, consignor, supplement).

    ``invt_nos`` are the application's lists (``plan_applications(...).assigned`` for this consignor). With
    ``window`` the month's window is sent instead of the numbers. A declared application (``app_status`` 2)
    must be signed, so it needs a ``signer``; a draft (1) does not.
    """
    if window and supplement:
        raise ValueError(
            "a supplementary application must name its lists: a window would include lists summarised before"
        )
    if requires_signature("CEB701Message", {"appStatus": app_status}) and signer is None:
        raise ValueError("a declared CEB701 (appStatus 2) must be signed: pass signer, or app_status='1'")
    numbers = sorted(invt_nos)
    if not numbers and not window:
        raise ValueError(f"application {period}/{ebc_code}/{supplement} has no lists")
    start, end = period_bounds(period)
    chunks: list[list[str]] = (
        [[]]
        if window
        else [numbers[k : k + lists_per_document] for k in range(0, len(numbers), lists_per_document)]
    )
    head: dict[str, Any] = {
        "guid": None,
        "appType": "1",
        "appTime": app_time,
        "appStatus": app_status,
        "customsCode": declarant.customs_code,
        "copNo": apply_cop_no(period, ebc_code, supplement),
        "agentCode": declarant.agent_code,
        "agentName": declarant.agent_name,
        "ebcCode": ebc_code,
        "ebcName": declarant.ebc_name,
        "declAgentCode": declarant.decl_agent_code,
        "declAgentName": declarant.decl_agent_name,
        "loctNo": declarant.loct_no,
        "summaryFlag": summary_flag,
        # The spec says "leave empty" for grouping by the comprehensive classification name, but the XSD
        # requires exactly one character; we send 0 (our choice, documented in docs/summary.md).
        "itemNameFlag": "1" if item_name_flag else "0",
        "msgCount": len(chunks),
        "note": f"{period} {'补充申报 supplementary ' + str(supplement) if supplement else '汇总申报'}",
    }
    if window:
        head["startTime"] = datetime.combine(start, datetime.min.time())
        head["endTime"] = datetime.combine(end, datetime.min.time()) - timedelta(seconds=1)
    documents = [
        OutDocument({**head, "guid": new_guid(), "msgSeqNo": k + 1}, [{"invtNo": n} for n in chunk])
        for k, chunk in enumerate(chunks)
    ]
    return _messages("CEB701Message", documents, transfer=_transfer(declarant), signer=signer)


def ceb702(
    *,
    period: str,
    ebc_code: str,
    supplement: int,
    declarant: Declarant,
    pre_no: str,
    sum_number: str | None,
    return_time: datetime,
    msg_count: int = 1,
    return_status: str = "2",
    return_info: str = "新增申报成功 / summary application accepted",
) -> bytes:
    """The CEB702 receipt of an application: one document per CEB701 document (msgSeqNo 1..msg_count)."""
    documents = [
        OutDocument(
            {
                "guid": new_guid(),
                "agentCode": declarant.agent_code,
                "ebcCode": ebc_code,
                "copNo": apply_cop_no(period, ebc_code, supplement),
                "preNo": pre_no,
                "sumNo": sum_number,
                "msgSeqNo": k + 1,
                "returnStatus": return_status,
                "returnTime": return_time,
                "returnInfo": return_info,
            }
        )
        for k in range(msg_count)
    ]
    messages = _messages("CEB702Message", documents)
    if len(messages) != 1:
        raise ValueError(f"{msg_count} receipts do not fit one CEB702 message")
    return messages[0]


def ceb792(
    *,
    declarations: pl.DataFrame,
    mapping: pl.DataFrame,
    declarant: Declarant,
    sum_number: str,
    first_serial: int,
    op_date: datetime,
    dec_state: str = "A",
) -> list[bytes]:
    """The CEB792 result(s) of one application: a document per declaration, its list lines as body.

    ``declarations`` and ``mapping`` are the rows of :class:`cbec.rules.summary.Summary` for one application
    (one period, consignor, supplement). The n-th declaration (by ``declNo``) gets ``declSeqNo`` serial
    ``first_serial + n - 1``, so numbers follow the rule's deterministic numbering.
    """
    apps = declarations.select("period", "ebcCode", "supplement").unique()
    if apps.height != 1:
        raise ValueError(f"ceb792 takes the declarations of one application, got {apps.height}")
    lines_by_decl = mapping.partition_by("declNo", as_dict=True, maintain_order=True)
    documents = []
    for row in declarations.sort("declNo").iter_rows(named=True):
        decl = int(row["declNo"])
        body = lines_by_decl.get((decl,))
        if body is None:
            raise ValueError(f"declaration {decl} has no mapped list lines")
        documents.append(
            OutDocument(
                {
                    "guid": new_guid(),
                    "customsCode": declarant.customs_code,
                    "sumNo": sum_number,
                    "opDate": op_date,
                    "declSeqNo": decl_seq_no(declarant.customs_code, op_date.year, first_serial + decl - 1),
                    "decState": dec_state,
                    "agentCode": declarant.agent_code,
                    "agentName": declarant.agent_name,
                    "ebcCode": row["ebcCode"],
                    "ebcName": declarant.ebc_name,
                    "declAgentCode": declarant.decl_agent_code,
                    "declAgentName": declarant.decl_agent_name,
                    "grossWeight": row["grossWeight"] if row["grossWeight"] is not None else Decimal(0),
                    "netWeight": row["netWeight"] if row["netWeight"] is not None else Decimal(0),
                    "msgCount": 1,
                    "msgSeqNo": 1,
                },
                body.sort("gseqno", "invtNo", "gnum")
                .select("invtNo", "logisticsNo", "gseqno", "gnum", "gcode")
                .to_dicts(),
            )
        )
    return _messages("CEB792Message", documents)
