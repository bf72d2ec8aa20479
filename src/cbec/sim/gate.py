"""A day at a bonded zone's gate: vehicles carrying released 1210 parcels, with planted mismatches.

The plan is seeded and pure: from the zone's lists (released ones, and a few that are not), it loads
vehicles, files one gate pass per vehicle, and writes each vehicle's gate event.  A share of vehicles carry
one planted fault each, whose expected reason codes are the ground truth:

======================  ==============================================  =================================
fault                   how it is planted                               caught when STOP with
======================  ==============================================  =================================
``overweight``          weighbridge 8–25 % over the pass's ``totalWt``   ``overweight``
``wrong_plate``         camera reads another plate (IC still matches)   ``plate-mismatch``
``wrong_container``     OCR reads another container number              ``container-mismatch``
``unreleased_list``     the pass binds a list not released (300/500/2)  ``list-unreleased``/``-inspection``
``held_pass``           an officer holds the pass before it arrives     ``pass-held``
``duplicate_use``       the vehicle comes through a second time         ``pass-used``
======================  ==============================================  =================================

Clean vehicles weigh within 1 % of their pass's total and must all be lifted.  Drivers (in-process on a
store, or over HTTP against a running service) file the passes, place the holds and send the events; the
report compares what was decided with what was planted.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cbec.sim.parties import BONDED_ZONES

FAULTS: dict[str, frozenset[str]] = {
    "overweight": frozenset({"overweight"}),
    "wrong_plate": frozenset({"plate-mismatch"}),
    "wrong_container": frozenset({"container-mismatch"}),
    "unreleased_list": frozenset({"list-unreleased", "list-inspection"}),
    "held_pass": frozenset({"pass-held"}),
    "duplicate_use": frozenset({"pass-used"}),
}
DEFAULT_RATES = dict.fromkeys(FAULTS, 0.05)
PROVINCE = {"2924": "浙A", "5349": "粤B"}


@dataclass(frozen=True, slots=True)
class ZoneList:
    """A list a zone may load: its number, weights (grams), zone enterprise and status."""

    invt_no: str
    area_code: str
    gross_g: int
    net_g: int
    status: int


@dataclass
class Vehicle:
    index: int
    zone: str  # zone enterprise code (areaCode), the pass's owner
    plate: str
    ic: str
    container: str | None
    tare_g: int
    frame_g: int
    container_g: int
    lists: list[ZoneList]
    gross_g: int
    net_g: int
    fault: str | None = None

    @property
    def total_g(self) -> int:
        return self.tare_g + self.frame_g + self.container_g + self.gross_g

    def filing(self) -> dict[str, Any]:
        """The pass as the zone enterprise files it over the API (SAS121 names, kilograms)."""

        def kg(g: int) -> str:
            return f"{g / 1000:.3f}"

        return {
            "etpsPreentNo": f"SIM{self.index:08d}",
            "areainEtpsno": self.zone,
            "passportTypecd": "3",
            "bindTypecd": "1",
            "ioTypecd": "E",
            "vehicleNo": self.plate,
            "vehicleIcNo": self.ic,
            "vehicleWt": kg(self.tare_g),
            "vehicleFrameWt": kg(self.frame_g),
            "containerNo": self.container,
            "containerType": "22G1" if self.container else None,
            "containerWt": kg(self.container_g),
            "totalGrossWt": kg(self.gross_g),
            "totalNetWt": kg(self.net_g),
            "totalWt": kg(self.total_g),
            "lists": [{"invtNo": x.invt_no} for x in self.lists],
        }


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    vehicle: int
    event_id: str
    at: datetime
    plate: str
    ic: str
    container: str | None
    weight_g: int
    fault: str | None
    """The fault this event carries (the second pass of a ``duplicate_use`` vehicle; the first is clean)."""

    def body(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "lane": f"L{self.vehicle % 4 + 1}",
            "vehicleNo": self.plate,
            "vehicleIcNo": self.ic,
            "containerNo": self.container,
            "weight": f"{self.weight_g / 1000:.3f}",
            "at": self.at.isoformat(),
        }


@dataclass
class Plan:
    vehicles: list[Vehicle]
    events: list[PlannedEvent]
    holds: list[int] = field(default_factory=list)  # vehicles whose pass an officer holds


def plan(
    lists: Sequence[ZoneList],
    *,
    seed: int,
    day: datetime,
    rates: Mapping[str, float] | None = None,
    per_vehicle: tuple[int, int] = (3, 30),
) -> Plan:
    """Load the released lists onto vehicles and plant faults (at most one per vehicle)."""
    rng = random.Random(seed)
    rates = dict(DEFAULT_RATES if rates is None else rates)
    unknown = set(rates) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown gate faults {sorted(unknown)}; known: {sorted(FAULTS)}")
    released = [x for x in lists if x.status in (800, 899)]
    spare = [x for x in lists if x.status not in (800, 899, 100)]
    vehicles: list[Vehicle] = []
    zone_district = {z[2]: z[0] for z in BONDED_ZONES}
    for zone in sorted({x.area_code for x in released}):
        pool = [x for x in released if x.area_code == zone]
        rng.shuffle(pool)
        while pool:
            k = min(len(pool), rng.randint(*per_vehicle))
            load, pool = pool[:k], pool[k:]
            i = len(vehicles)
            gross = sum(x.gross_g for x in load)
            boxed = rng.random() < 0.5
            vehicles.append(
                Vehicle(
                    index=i,
                    zone=zone,
                    plate=_plate(zone_district.get(zone, ""), rng, i),
                    ic=f"E{seed % 1000:03d}{i:08d}",
                    container=f"CBEU{rng.randrange(10**7):07d}" if boxed else None,
                    tare_g=rng.randrange(4_000, 15_000) * 1000,
                    frame_g=rng.choice((0, 1_500_000)),
                    container_g=rng.randrange(2_200, 3_800) * 1000 if boxed else 0,
                    lists=load,
                    gross_g=int(gross * (1 + rng.uniform(0.005, 0.03))),  # cartons and pallets
                    net_g=sum(x.net_g for x in load),
                )
            )
    names = list(rates)
    for v in vehicles:
        u = rng.random()
        acc = 0.0
        for name in names:
            acc += rates[name]
            if u < acc:
                v.fault = name
                break
        if v.fault == "unreleased_list":
            same_zone = [x for x in spare if x.area_code == v.zone]
            if not same_zone:
                v.fault = None  # nothing unreleased in this zone to plant
            else:
                extra = same_zone[0]
                spare.remove(extra)
                v.lists = [*v.lists, extra]
                v.gross_g += extra.gross_g
                v.net_g += extra.net_g
    events: list[PlannedEvent] = []
    start = day.replace(hour=6, minute=0, second=0, microsecond=0)
    for v in vehicles:
        at = start + timedelta(seconds=(v.index * 57) % 57_600)
        noise = rng.uniform(-0.01, 0.01)
        weight = round(v.total_g * (1 + noise) / 10_000) * 10_000  # a weighbridge reads to 10 kg
        plate, container, fault = v.plate, v.container, v.fault
        if v.fault == "overweight":
            weight = round(v.total_g * rng.uniform(1.08, 1.25) / 10_000) * 10_000
        elif v.fault == "wrong_plate":
            plate = f"{v.plate[:2]}X{rng.randrange(10**4):04d}"
        elif v.fault == "wrong_container":
            container = f"TGHU{rng.randrange(10**7):07d}"
        elif v.fault == "duplicate_use":
            fault = None  # its first pass is clean; the second, later in the day, is the planted one
        events.append(
            PlannedEvent(v.index, f"SIM-{seed}-{v.index}-1", at, plate, v.ic, container, weight, fault)
        )
        if v.fault == "duplicate_use":
            again = at + timedelta(hours=2)
            events.append(
                PlannedEvent(
                    v.index, f"SIM-{seed}-{v.index}-2", again, plate, v.ic, container, weight, "duplicate_use"
                )
            )
    events.sort(key=lambda e: (e.at, e.event_id))
    return Plan(vehicles, events, [v.index for v in vehicles if v.fault == "held_pass"])


def report(plan_: Plan, decisions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per planted fault: planted / caught; clean vehicles lifted and stopped (with why)."""
    out: dict[str, Any] = {"vehicles": len(plan_.vehicles), "events": len(plan_.events), "faults": {}}
    clean_stopped: list[dict[str, Any]] = []
    clean = lifted = 0
    for name in FAULTS:
        out["faults"][name] = {"planted": 0, "caught": 0, "missed": []}
    for e in plan_.events:
        d = decisions[e.event_id]
        codes = {r["code"] for r in d.get("reasons", [])}
        if e.fault is None:
            clean += 1
            if d["decision"] == "LIFT":
                lifted += 1
            else:
                clean_stopped.append({"eventId": e.event_id, "reasons": sorted(codes)})
            continue
        entry = out["faults"][e.fault]
        entry["planted"] += 1
        if d["decision"] == "STOP" and codes & FAULTS[e.fault]:
            entry["caught"] += 1
        else:
            entry["missed"].append(
                {"eventId": e.event_id, "decision": d["decision"], "reasons": sorted(codes)}
            )
    out["clean"] = {
        "events": clean,
        "lifted": lifted,
        "stopped": len(clean_stopped),
        "stoppedEvents": clean_stopped[:20],
    }
    out["allCaught"] = all(f["planted"] == f["caught"] for f in out["faults"].values())
    out["ok"] = out["allCaught"] and not clean_stopped
    return out


def _plate(district: str, rng: random.Random, index: int) -> str:
    """A plate of the zone's province: 浙A + 5 characters (unique per vehicle through its last digits)."""
    return f"{PROVINCE.get(district, '沪C')}{rng.randrange(100):02d}{index % 1000:03d}"
