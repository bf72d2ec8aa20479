"""Helpers for the aftercare tests: a small cleared corpus, and CEB623/625 messages built from its lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, select

from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.columns import decode_batch
from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.messages.signature import SigningIdentity, make_test_identity
from cbec.messages.spec import message_spec
from cbec.messages.xsd import validate_bytes, xsd_available
from cbec.params import ParameterSet
from cbec.params.hs import load_cbec_hs
from cbec.store import connect
from cbec.store import inbox as inbox_repo
from cbec.store.schema import decision, document, receipt

#: The clearance clock of the corpus: lists are released (or held) at this moment.
CLEARED_AT = datetime(2026, 11, 12, 0, 0, 0)

RISK_YAML = """
parameters:
  - name: import.risk.inspection_rate
    description: test setting, many lists inspected
    unit: ratio
    values:
      - from: 2016-01-01
        value: 0.2
        reference: {source: test, clause: test}
  - name: import.risk.manual_review_rate
    description: test setting, many lists reviewed
    unit: ratio
    values:
      - from: 2016-01-01
        value: 0.2
        reference: {source: test, clause: test}
"""

_HS = None


def hs_frame() -> pl.DataFrame:
    global _HS
    if _HS is None:
        _HS = load_cbec_hs().frame()
    return _HS


def risky_params(folder: Path) -> ParameterSet:
    """The packaged parameters with 20 % inspection and 20 % manual review, so a small corpus has both."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "risk.yaml").write_text(RISK_YAML, encoding="utf-8")
    return ParameterSet.load(folder)


@dataclass
class World:
    engine: Engine
    params: ParameterSet
    root: Path

    def clearer(self, now: datetime) -> Clearer:
        return Clearer(self.engine, params=self.params, hs=hs_frame(), outbox=self.root / "outbox", now=now)

    def lists_at(self, status: int) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(document.c.business_key).where(document.c.kind == "list", document.c.status == status)
            ).scalars()
            return sorted(rows)

    def status(self, list_key: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(document.c.status).where(
                        document.c.kind == "list", document.c.business_key == list_key
                    )
                ).scalar_one()
            )

    def invt_no(self, list_key: str) -> str:
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(decision.c.invt_no).where(
                        decision.c.list_key == list_key, decision.c.invt_no.is_not(None)
                    )
                )
                .scalars()
                .first()
            )

    def original(self, list_key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The list head and lines as declared (decoded again from the inbox)."""
        with self.engine.connect() as conn:
            guid, inbox_id = conn.execute(
                select(document.c.guid, document.c.inbox_id).where(
                    document.c.kind == "list", document.c.business_key == list_key
                )
            ).one()
            raw = inbox_repo.raw_by_ids(conn, [inbox_id])[inbox_id]
        batch = decode_batch([raw])
        heads = batch.table("CEB621Message", "InventoryHead")
        head = heads.filter(pl.col("guid") == guid).row(0, named=True)
        lines = batch.table("CEB621Message", "InventoryList").filter(
            (pl.col("_msg") == head["_msg"]) & (pl.col("_doc") == head["_doc"])
        )
        return head, lines.sort("gnum").to_dicts()

    def receipts(self, message_type: str | None = None) -> list[tuple[str, bytes]]:
        with self.engine.connect() as conn:
            stmt = select(receipt.c.message_type, receipt.c.xml).order_by(receipt.c.id)
            if message_type:
                stmt = stmt.where(receipt.c.message_type == message_type)
            return [(t, bytes(x)) for t, x in conn.execute(stmt)]


def cleared_world(corpus: Path, root: Path, url: str | None = None) -> World:
    """A fresh database with the corpus cleared at CLEARED_AT (20 % review, 20 % inspection)."""
    from cbec.store import reset

    engine = connect(url or f"sqlite:///{root / 'cbec.db'}")
    reset(engine)
    world = World(engine, risky_params(root / "params"), root)
    world.clearer(CLEARED_AT).clear_batch(list(iter_inputs(corpus)))
    return world


_IDENTITY: SigningIdentity | None = None


def identity() -> SigningIdentity:
    global _IDENTITY
    if _IDENTITY is None:
        _IDENTITY = make_test_identity("cbec aftercare test")
    return _IDENTITY


def _application_head(head: dict[str, Any], invt_no: str, at: datetime, **overrides: Any) -> dict[str, Any]:
    doc = {
        "guid": new_guid(),
        "appType": "1",
        "appTime": at,
        "appStatus": "2",
        "customsCode": head["customsCode"],
        "orderNo": head["orderNo"],
        "ebpCode": head["ebpCode"],
        "ebpName": head["ebpName"],
        "ebcCode": head["ebcCode"],
        "ebcName": head["ebcName"],
        "logisticsNo": head["logisticsNo"],
        "logisticsCode": head["logisticsCode"],
        "logisticsName": head["logisticsName"],
        "copNo": None,  # the application's own number, none by default
        "invtNo": invt_no,
        "buyerIdType": "1",
        "buyerIdNumber": head["buyerIdNumber"],
        "buyerName": head["buyerName"],
        "buyerTelephone": head["buyerTelephone"],
        "agentCode": head["agentCode"],
        "agentName": head["agentName"],
        "reason": "消费者申请 / buyer's request",
    }
    doc.update(overrides)
    return doc


def _transfer(head: dict[str, Any]) -> dict[str, str]:
    return {
        "copCode": head["agentCode"],
        "copName": head["agentName"],
        "dxpMode": "DXP",
        "dxpId": "DXPENT0000000001",
    }


def cancel_message(world: World, list_key: str, at: datetime, **overrides: Any) -> tuple[str, bytes]:
    """A signed CEB623 cancelling the list (fields as declared, ``overrides`` on top); (doc guid, bytes)."""
    head, _lines = world.original(list_key)
    doc = _application_head(head, overrides.pop("invtNo", world.invt_no(list_key)), at, **overrides)
    xml = encode("CEB623Message", [OutDocument(doc)], transfer=_transfer(head), signer=identity())
    return doc["guid"], xml


def return_message(
    world: World,
    list_key: str,
    at: datetime,
    lines: list[tuple[int, Decimal]] | None = None,
    *,
    line_overrides: dict[str, Any] | None = None,
    **overrides: Any,
) -> tuple[str, bytes]:
    """A signed CEB625 returning ``lines`` (gnum, qty) of the list — all of it by default."""
    head, original = world.original(list_key)
    by_gnum = {int(r["gnum"]): r for r in original}
    wanted = lines if lines is not None else [(g, Decimal(str(r["qty"]))) for g, r in by_gnum.items()]
    out_lines = []
    for gnum, qty in wanted:
        src = by_gnum.get(gnum, original[0])
        line = {"gnum": gnum, "gcode": src["gcode"], "gname": src["gname"], "qty": qty, "unit": src["unit"]}
        line.update(line_overrides or {})
        out_lines.append(line)
    doc = _application_head(head, overrides.pop("invtNo", world.invt_no(list_key)), at, **overrides)
    xml = encode("CEB625Message", [OutDocument(doc, out_lines)], transfer=_transfer(head), signer=identity())
    return doc["guid"], xml


def answers(world: World, message_type: str, guid: str) -> list[dict[str, str]]:
    """The receipt documents answering the document ``guid`` (in the outbox table), by returnTime."""
    from cbec.messages.decode import decode

    found = []
    for _t, xml in world.receipts(message_type):
        msg = decode(xml)
        for d in msg.documents:
            if str(d.head.get("guid")) == guid:
                found.append({k: str(v) for k, v in d.head.items()})
    return sorted(found, key=lambda a: a["returnTime"])


def assert_receipts_valid(world: World) -> int:
    """Every receipt in the outbox validates against the official XSD; returns how many were checked."""
    if not xsd_available():
        return 0
    checked = 0
    for mtype, xml in world.receipts():
        family = message_spec(mtype).family
        problems = validate_bytes(xml, family)
        assert not problems, (mtype, problems[:3], xml[:600])
        checked += 1
    return checked


def quota_used(world: World, list_key: str) -> int:
    """Fen the list's buyer has used in the list's year (from the quota table)."""
    from cbec.store import aftercare as store
    from cbec.store import quota

    with world.engine.connect() as conn:
        accepted = store.accepted_quota(conn, [list_key])[list_key]
        return quota.used(conn, [accepted.buyer_key], accepted.year)[accepted.buyer_key]


def accepted_fen(world: World, list_key: str) -> int:
    from cbec.store import aftercare as store

    with world.engine.connect() as conn:
        return store.accepted_quota(conn, [list_key])[list_key].amount_fen


def bill(world: World, list_key: str) -> Any:
    from cbec.store import tax

    with world.engine.connect() as conn:
        return tax.bills_by_list_keys(conn, [list_key])[list_key]


def net_due(world: World, list_key: str) -> tuple[int, int, int]:
    from cbec.store import tax

    b = bill(world, list_key)
    with world.engine.connect() as conn:
        return tax.net_due(conn, [b.tax_no])[b.tax_no]


def snapshot(world: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an aftercare step may change (ids and creation times left out)."""
    from cbec.store.schema import (
        application,
        officer_result,
        quota,
        quota_movement,
        return_line,
        tax_adjustment,
        tax_bill,
    )

    out = {}
    with world.engine.connect() as conn:
        for table in (document, decision, receipt, quota, quota_movement, tax_bill, tax_adjustment,
                      application, return_line, officer_result):  # fmt: skip
            cols = [c for c in table.c if c.name not in ("id",)]
            out[table.name] = sorted(tuple(str(v) for v in row) for row in conn.execute(select(*cols)))
    return out


def clear_messages(world: World, at: datetime, *messages: bytes) -> Clearer:
    clearer = world.clearer(at)
    clearer.clear_batch([(f"m{i}.xml", m) for i, m in enumerate(messages)])
    return clearer
