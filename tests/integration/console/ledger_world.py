"""A store for the ledger pages: a generated day cleared against the zones' bonded ledgers (one planted
shortage, so lists are held), a stocktake counted one unit short, and the accounts that look at it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from cbec.engine import ledger as E
from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rights import Role
from cbec.rules import ledger as R
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.sim.ledgers import Stocking, bonded_demand, file_zone_ledgers
from cbec.sim.parties import BONDED_ZONES
from cbec.store import connect, enterprises

CLEARED_AT = datetime(2026, 11, 12, 1, 0, 0)
ZONE_A, ZONE_B = BONDED_ZONES[0], BONDED_ZONES[1]


@dataclass
class LedgerWorld:
    engine: Engine
    keys: dict[str, str]
    stocking: Stocking

    @property
    def short_ems(self) -> str:
        assert self.stocking.short is not None
        return self.stocking.short[0]


def build_ledger_world(root: Path) -> LedgerWorld:
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    traffic = root / "traffic"
    write_corpus(traffic, GeneratorConfig(parcels=60, seed=11), workers=1)
    files = list(iter_inputs(traffic))
    at = datetime(2026, 11, 10, tzinfo=UTC)
    with engine.begin() as conn:
        stocking = file_zone_ledgers(conn, bonded_demand(b for _, b in files), at=at)
    Clearer(
        engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=CLEARED_AT
    ).clear_batch(files)
    keys: dict[str, str] = {}
    with engine.begin() as conn:
        for code, role, district in (
            ("3301960101", Role.ECOMMERCE, None),
            ("officer-29", Role.OFFICER, "2900"),
            ("officer-53", Role.OFFICER, "5300"),
        ):
            enterprises.register_enterprise(
                conn, code=code, name=f"测试 {code}", roles=[role], district=district
            )
        for code in ("3301960101", "officer-29", "officer-53", ZONE_A[2], ZONE_B[2]):
            keys[code] = enterprises.issue_api_key(conn, code, label="t").key
        assert stocking.short is not None
        ems, item = stocking.short
        book = E.ledger_view(conn, ems, movements=0)
        counts = {it["itemRecordNo"]: Decimal(it["balance"]) for it in book["items"][:3]}
        counts[item] = Decimal(
            R.show(next(R.to_units(i["balance"]) for i in book["items"] if i["itemRecordNo"] == item))
        )
        first = next(i["itemRecordNo"] for i in book["items"] if Decimal(i["balance"]) >= 1)
        counts[first] = Decimal(next(i["balance"] for i in book["items"] if i["itemRecordNo"] == first)) - 1
        E.record_count(conn, ems, counts, counted_at=datetime.now(UTC) + timedelta(seconds=1), actor="仓管")
    return LedgerWorld(engine, keys, stocking)
