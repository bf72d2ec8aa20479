"""A store with CEB711 warehouse-entry details for the API and console tests: a generated day cleared (so the
waybills are declared), then entries of two supervised sites in two districts on three days, one refused
for a waybill nobody declared, and the accounts that read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.columns import decode_batch
from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.messages.signature import SigningIdentity, make_test_identity
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rights import Role
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect, enterprises

SITE_A = ("2924960601", "杭州空港跨境监管中心", "2924")  # code, name, customs office of its entries
SITE_B = ("5349960602", "深圳机场跨境监管中心", "5349")
ECOMMERCE = "3301960101"
BROKER = "3301980001"  # a logistics enterprise that SITE_A lets act for it as site operator (CEB711)
#: (Beijing day 1, 2, 3) at 11:00: the clearing batches that stored the entries
DAY1, DAY2, DAY3 = datetime(2026, 11, 12, 3), datetime(2026, 11, 13, 3), datetime(2026, 11, 14, 3)
UNDECLARED = "NOSUCHWAYBILL01"


@dataclass
class Entry:
    guid: str
    site: tuple[str, str, str]
    numbers: list[str]
    day: datetime
    cop_no: str


@dataclass
class EntryWorld:
    engine: Engine
    keys: dict[str, str]
    entries: dict[str, Entry] = field(default_factory=dict)  # a1, a2 (refused), a3, b1

    def guid(self, name: str) -> str:
        return self.entries[name].guid


def _waybills(files: list[tuple[str, bytes]]) -> tuple[str, list[str]]:
    """The logistics enterprise with most direct-purchase parcels, and their waybill numbers."""
    heads = (
        decode_batch([b for _, b in files if b"CEB621Message" in b[:400]])
        .table("CEB621Message", "InventoryHead")
        .filter(pl.col("tradeMode") == "9610")
    )
    code = heads.group_by("logisticsCode").len().sort("len", descending=True)["logisticsCode"][0]
    return str(code), sorted(heads.filter(pl.col("logisticsCode") == code)["logisticsNo"].to_list())


def _message(
    site: tuple[str, str, str], logistics: str, numbers: list[str], cop_no: str, signer: SigningIdentity
) -> tuple[str, bytes]:
    head: dict[str, Any] = {
        "guid": new_guid(), "appType": "1", "appTime": DAY1, "appStatus": "2", "customsCode": site[2],
        "copNo": cop_no, "operatorCode": site[0], "operatorName": site[1], "ieFlag": "I", "trafMode": "5",
        "trafNo": "CA1234", "voyageNo": "CA1234", "billNo": f"784-{cop_no[-4:]}", "logisticsCode": logistics,
        "logisticsName": "示例国际快递有限公司",
    }  # fmt: skip
    lines = [{"gnum": i + 1, "logisticsNo": n} for i, n in enumerate(numbers)]
    transfer = {"copCode": site[0], "copName": site[1], "dxpMode": "DXP", "dxpId": "DXPENT0000000601"}
    return str(head["guid"]), encode(
        "CEB711Message", [OutDocument(head, lines)], transfer=transfer, signer=signer
    )


def build_entry_world(root: Path, url: str | None = None) -> EntryWorld:
    engine = connect(url or f"sqlite:///{root / 'cbec.db'}")
    traffic = root / "traffic"
    write_corpus(traffic, GeneratorConfig(parcels=40, seed=5), workers=1)
    files = list(iter_inputs(traffic))
    hs = load_cbec_hs().frame()
    params = default_parameters()
    Clearer(engine, params=params, hs=hs, outbox=None, now=DAY1).clear_batch(files)
    logistics, numbers = _waybills(files)
    assert len(numbers) >= 6, numbers
    signer = make_test_identity("cbec entry world")
    world = EntryWorld(engine, {})
    plan = (  # name, site, waybills, day (one clearing batch each)
        ("a1", SITE_A, numbers[0:2], DAY1),
        ("a2", SITE_A, [numbers[2], UNDECLARED], DAY2),
        ("b1", SITE_B, numbers[3:5], DAY2),
        ("a3", SITE_A, numbers[5:6], DAY3),
    )
    for name, site, waybills, day in plan:
        cop_no = f"RK-{name.upper()}-{day:%m%d}"
        guid, xml = _message(site, logistics, waybills, cop_no, signer)
        Clearer(engine, params=params, hs=hs, outbox=None, now=day).clear_batch([(f"{name}.xml", xml)])
        world.entries[name] = Entry(guid, site, waybills, day, cop_no)
    with engine.begin() as conn:
        for code, role, district in (
            (SITE_A[0], Role.OPERATOR, None),
            (SITE_B[0], Role.OPERATOR, None),
            (ECOMMERCE, Role.ECOMMERCE, None),
            (BROKER, Role.LOGISTICS, None),
            ("officer-29", Role.OFFICER, "2900"),  # a directly-under customs: covers 2924
            ("officer-2924", Role.OFFICER, "2924"),
            ("officer-53", Role.OFFICER, "5300"),
            ("admin", Role.ADMIN, None),
        ):
            enterprises.register_enterprise(
                conn, code=code, name=f"测试 {code}", roles=[role], district=district
            )
            world.keys[code] = enterprises.issue_api_key(conn, code, label="t").key
        enterprises.add_grant(
            conn, owner=SITE_A[0], grantee=BROKER, role=Role.OPERATOR, message_types=["CEB711Message"]
        )
    return world
