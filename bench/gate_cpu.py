"""Benchmark: the CPU one gate decision costs in process (no HTTP), one event per call and a few per call.

Prints one JSON line.  Why process time and not wall time: this machine is shared, and CPU seconds of this
process are far less disturbed by other load than a wall clock; the service's decision latency at a given
rate follows from the CPU per event (``bench/gate.py`` measures that over loopback).

1. a fresh SQLite store with a cleared day of 1210 parcels (``cbec gate simulate``'s world);
2. one pass per vehicle (1–3 parcels), planted faults at ``--fault-rate`` each;
3. the vehicles decided through :func:`cbec.service.gate.decide_events` in calls of ``--batch`` events, as
   the gate thread does; CPU (``time.process_time``) of each call divided by its events.

    python bench/gate_cpu.py --parcels 1200 --batch 1
    python bench/gate_cpu.py --parcels 1200 --batch 1 --profile 25   # and the top of a cProfile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> int:
    from cbec.commands.gate import LocalDriver, clear_local_day, file_gate_parties, zone_lists
    from cbec.params import default_parameters
    from cbec.service import gate as desk
    from cbec.sim import gate as sim
    from cbec.sim.parties import BONDED_ZONES
    from cbec.store.gate import Scope

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1, help="events per decide_events call")
    ap.add_argument("--events", type=int, default=400, help="decide at most this many events")
    ap.add_argument("--fault-rate", type=float, default=0.02)
    ap.add_argument("--profile", type=int, default=0, help="print the top N functions of a cProfile")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cbec-bench-gate-cpu-"))
    try:
        engine = clear_local_day(work, parcels=args.parcels, seed=args.seed)
        file_gate_parties(engine)
        params = default_parameters()
        now = datetime.now(UTC)
        plan = sim.plan(
            zone_lists(engine),
            seed=args.seed,
            day=now,
            rates=dict.fromkeys(sim.FAULTS, args.fault_rate),
            per_vehicle=(1, 3),
        )
        driver = LocalDriver(engine, params, now)
        numbers = {v.index: driver.file(v) for v in plan.vehicles}
        districts = {z[2]: z[0] for z in BONDED_ZONES}
        for i in plan.holds:
            driver.hold(numbers[i], districts[plan.vehicles[i].zone])
        zone_of = {v.index: v.zone for v in plan.vehicles}
        events = plan.events[: args.events]
        per_event: list[float] = []
        decisions: dict[str, dict[str, object]] = {}
        profiler = cProfile.Profile() if args.profile else None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for start in range(0, len(events), args.batch):
            chunk = events[start : start + args.batch]
            zone = zone_of[chunk[0].vehicle]
            chunk = [e for e in chunk if zone_of[e.vehicle] == zone]  # one gate (caller) per call
            gate_events = [
                desk.GateEvent(
                    e.event_id, f"L{e.vehicle % 4 + 1}", e.at, e.plate, e.ic, e.container, e.weight_g
                )
                for e in chunk
            ]
            t = time.process_time()
            if profiler is not None:
                profiler.enable()
            out = desk.decide_events(
                engine,
                gate_events,
                reporter=zone,
                scope=Scope(owners=frozenset({zone})),
                params=params,
                now=datetime.now(UTC),
            )
            if profiler is not None:
                profiler.disable()
            per_event.append((time.process_time() - t) / len(chunk))
            decisions.update({d["eventId"]: d for d in out})
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        sent = sim.Plan(plan.vehicles, [e for e in events if e.event_id in decisions], plan.holds)
        checked = sim.report(sent, decisions)
        ordered = sorted(per_event)
        report = {
            "bench": "gate_cpu",
            "parcels": args.parcels,
            "passes": len(plan.vehicles),
            "events": len(decisions),
            "batch": args.batch,
            "cpu_ms_per_event_median": round(statistics.median(per_event) * 1000, 2),
            "cpu_ms_per_event_p90": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
            "cpu_ms_per_event_mean": round(cpu / max(1, len(decisions)) * 1000, 2),
            "wall_ms_per_event_mean": round(wall / max(1, len(decisions)) * 1000, 2),
            "stopped": sum(1 for d in decisions.values() if d["decision"] == "STOP"),
            "ok": checked["ok"],
        }
        print(json.dumps(report, ensure_ascii=False))
        if profiler is not None:
            buf = io.StringIO()
            pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(args.profile)
            print(buf.getvalue())
        return 0 if checked["ok"] else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
