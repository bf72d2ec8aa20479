"""A store for the gate board: a cleared day of 1210 parcels, the zones' operators and officers, an
administrator and a platform, passes filed in both zones, and vehicles decided (lifted and stopped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cbec.commands.gate import OFFICER_PREFIX, file_gate_parties, zone_lists
from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rights import Principal, Role
from cbec.service import gate as desk
from cbec.sim.gate import ZoneList
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.sim.parties import BONDED_ZONES
from cbec.store import connect, enterprises
from cbec.store.gate import Scope

ZONE_A, ZONE_B = BONDED_ZONES[0], BONDED_ZONES[1]
OFFICER_A, OFFICER_B = f"{OFFICER_PREFIX}{ZONE_A[0]}", f"{OFFICER_PREFIX}{ZONE_B[0]}"
ADMIN, PLATFORM = "gate-admin", "3301960101"
TARE_G, BOX_G = 9_000_000, 2_300_000


@dataclass
class GateWorld:
    engine: Engine
    keys: dict[str, str]
    lists: list[ZoneList]
    passes: dict[str, dict[str, Any]]
    """etpsPreentNo → {"no": passport number, "plate", "ic", "box", "total_g", "zone"}."""

    def released(self, zone: tuple[str, str, str, str, str]) -> list[ZoneList]:
        return [x for x in self.lists if x.area_code == zone[2] and x.status == 800]


def file(
    engine: Engine, zone: tuple[str, str, str, str, str], lists: list[ZoneList], preent: str
) -> dict[str, Any]:
    """File a pass of ``lists`` for ``zone`` as its operator; what a vehicle under it should show."""
    gross = sum(x.gross_g for x in lists)
    plate, ic, box = f"浙A{preent[-5:]}", f"IC{preent}", "CBEU1234567"
    filing = desk.PassFiling(
        etps_preent_no=preent,
        passport_typecd="3",
        bind_typecd="1",
        io_typecd="E",
        vehicle_no=plate,
        vehicle_ic_no=ic,
        vehicle_wt_g=TARE_G,
        container_no=box,
        container_wt_g=BOX_G,
        total_gross_wt_g=gross,
        total_net_wt_g=sum(x.net_g for x in lists),
        total_wt_g=TARE_G + BOX_G + gross,
        lists=tuple(desk.ListHandle(invt_no=x.invt_no) for x in lists),
        areain_etpsno=zone[2],
    )
    owner = Principal.of(zone[2], [Role.OPERATOR], [zone[2]])
    row, _ = desk.file_pass(engine, owner, filing, default_parameters(), datetime.now(UTC))
    return {
        "no": row.passport_no,
        "plate": plate,
        "ic": ic,
        "box": box,
        "total_g": TARE_G + BOX_G + gross,
        "zone": zone[2],
        "stucd": row.stucd,
    }


def build_gate_world(root: Path) -> GateWorld:
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    config = GeneratorConfig(
        parcels=120, seed=21, bonded_share=1.0, docs_per_message=(1, 10), faults={"missing_payment": 0.05}
    )
    write_corpus(root / "traffic", config, workers=1)
    Clearer(
        engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=None,
        now=config.day.replace(hour=23),
    ).clear_stream(iter_inputs(root / "traffic"), workers=0)
    keys = file_gate_parties(engine)
    with engine.begin() as conn:
        enterprises.register_enterprise(conn, code=ADMIN, name="管理员 admin", roles=[Role.ADMIN])
        enterprises.register_enterprise(conn, code=PLATFORM, name="平台 platform", roles=[Role.PLATFORM])
        for code in (ADMIN, PLATFORM):
            keys[code] = enterprises.issue_api_key(conn, code, label="t").key
    lists = zone_lists(engine)
    world = GateWorld(engine, keys, lists, {})
    a, b = world.released(ZONE_A), world.released(ZONE_B)
    world.passes["GA-00001"] = file(engine, ZONE_A, a[0:2], "GA-00001")  # lifted below
    world.passes["GA-00002"] = file(engine, ZONE_A, a[2:3], "GA-00002")  # stopped overweight below
    world.passes["GA-00003"] = file(engine, ZONE_A, a[3:4], "GA-00003")  # for holds through the page
    world.passes["GB-00001"] = file(engine, ZONE_B, b[0:1], "GB-00001")  # the other district's
    waiting = [x for x in world.lists if x.area_code == ZONE_A[2] and x.status not in (800, 899, 100)]
    assert waiting, "the generated day should leave a zone-A list unreleased (manual review)"
    world.passes["GA-00004"] = file(engine, ZONE_A, [a[4], waiting[0]], "GA-00004")  # stays applied
    now = datetime.now(UTC)
    one, two = world.passes["GA-00001"], world.passes["GA-00002"]
    events = [
        desk.GateEvent("w-1", "L1", now, one["plate"], one["ic"], one["box"], one["total_g"] + 20_000),
        desk.GateEvent("w-2", "L2", now, two["plate"], two["ic"], two["box"], two["total_g"] * 2),
        desk.GateEvent("w-3", "L1", now, "浙A99999", None, None, 12_000_000),
    ]
    desk.decide_events(
        engine,
        events,
        reporter=ZONE_A[2],
        scope=Scope(owners=frozenset({ZONE_A[2]})),
        params=default_parameters(),
        now=now,
    )
    other = world.passes["GB-00001"]
    desk.decide_events(
        engine,
        [desk.GateEvent("w-b1", "L9", now, other["plate"], other["ic"], other["box"], other["total_g"])],
        reporter=ZONE_B[2],
        scope=Scope(owners=frozenset({ZONE_B[2]})),
        params=default_parameters(),
        now=now,
    )
    return world
