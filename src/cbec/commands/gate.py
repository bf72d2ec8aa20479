"""``cbec gate simulate``: a day of vehicles through a bonded zone's non-stop gate, with planted mismatches.

In process (default): a fresh SQLite store in ``--out``, a generated day of 1210 parcels cleared by the
clearing engine, the zone enterprises filed as operators, then passes filed and the whole day's vehicles
decided in one frame by the gate rule.  With ``--url`` (and ``--database``, the service's database, where the
simulator files the cast and the zone operators to get their API keys): the traffic is POSTed to the running
service, cleared by its clearing loop, and passes, holds and vehicles go over HTTP one by one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from cbec.params.dated import ParameterSet
from cbec.rights import Principal, Role
from cbec.sim import gate as sim
from cbec.sim.parties import BONDED_ZONES

app = typer.Typer(no_args_is_help=True, help="Gate passes and the non-stop gate (核放单、无感卡口).")
_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)

OFFICER_PREFIX = "gate-officer-"


# --- the world: parties, a cleared day ------------------------------------------------------------------
def file_gate_parties(engine: Engine) -> dict[str, str]:
    """File each bonded zone's enterprise as a supervised-site operator and one officer per zone district
    (idempotent: a filed code keeps its filing and gets a new key); their API keys by code."""
    from cbec.store import enterprises

    keys: dict[str, str] = {}
    with engine.begin() as conn:
        for district, _port, code, name, _ems in BONDED_ZONES:
            if enterprises.get_enterprise(conn, code) is None:
                enterprises.register_enterprise(conn, code=code, name=name, roles=[Role.OPERATOR])
            keys[code] = enterprises.issue_api_key(conn, code, label="gate-sim").key
            officer = f"{OFFICER_PREFIX}{district}"
            if enterprises.get_enterprise(conn, officer) is None:
                enterprises.register_enterprise(
                    conn,
                    code=officer,
                    name=f"卡口关员 gate officer {district}",
                    roles=[Role.OFFICER],
                    district=district,
                )
            keys[officer] = enterprises.issue_api_key(conn, officer, label="gate-sim").key
    return keys


def clear_local_day(folder: Path, *, parcels: int, seed: int) -> Engine:
    """A fresh store in ``folder`` with a cleared day of 1210 parcels (a few left unreleased on purpose)."""
    from cbec.engine.clear import Clearer, iter_inputs
    from cbec.params import default_parameters
    from cbec.params.hs import load_cbec_hs
    from cbec.sim.generate import GeneratorConfig, write_corpus
    from cbec.store import connect

    config = GeneratorConfig(
        parcels=parcels,
        seed=seed,
        bonded_share=1.0,
        docs_per_message=(1, 20),
        faults={"missing_payment": 0.02},
    )
    write_corpus(folder / "traffic", config, workers=1)
    engine = connect(f"sqlite:///{(folder / 'cbec.db').resolve()}")
    clearer = Clearer(
        engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=folder / "outbox",
        now=config.day.replace(hour=23, minute=59),
    )
    clearer.clear_stream(iter_inputs(folder / "traffic"), workers=0)
    return engine


def zone_lists(engine: Engine) -> list[sim.ZoneList]:
    """Every stored 1210 list with its number, weights and zone enterprise (decoded from its message)."""
    from cbec.service.gate import list_heads
    from cbec.store.schema import document

    with engine.connect() as conn:
        keys = list(conn.scalars(select(document.c.business_key).where(document.c.kind == "list")))
        heads = list_heads(conn, keys)
    out = []
    for h in heads.values():
        if not h.get("areaCode") or not h.get("invt_no"):
            continue  # not a bonded list, or never given a number by customs (refused at once)
        out.append(
            sim.ZoneList(
                invt_no=str(h["invt_no"]),
                area_code=str(h["areaCode"]),
                gross_g=int(float(h["grossWeight"] or 0) * 1000),
                net_g=int(float(h["netWeight"] or 0) * 1000),
                status=int(h["status"]),
            )
        )
    return sorted(out, key=lambda x: x.invt_no)


# --- drivers ------------------------------------------------------------------------------------------------
class Driver(Protocol):
    def file(self, vehicle: sim.Vehicle) -> str: ...

    def hold(self, passport_no: str, district: str) -> None: ...

    def decide(self, events: Sequence[sim.PlannedEvent]) -> dict[str, dict[str, Any]]: ...


class LocalDriver:
    """Files and decides in process, on the store: the whole day's events in one frame."""

    def __init__(self, engine: Engine, params: ParameterSet, now: datetime) -> None:
        self.engine, self.params, self.now = engine, params, now

    def file(self, vehicle: sim.Vehicle) -> str:
        from cbec.service import gate as desk

        principal = Principal.of(vehicle.zone, [Role.OPERATOR], [vehicle.zone])
        f = vehicle.filing()
        filing = desk.PassFiling(
            etps_preent_no=f["etpsPreentNo"],
            passport_typecd="3",
            bind_typecd="1",
            io_typecd="E",
            vehicle_no=vehicle.plate,
            vehicle_ic_no=vehicle.ic,
            vehicle_wt_g=vehicle.tare_g,
            vehicle_frame_wt_g=vehicle.frame_g,
            container_no=vehicle.container,
            container_type=f["containerType"],
            container_wt_g=vehicle.container_g,
            total_gross_wt_g=vehicle.gross_g,
            total_net_wt_g=vehicle.net_g,
            total_wt_g=vehicle.total_g,
            lists=tuple(desk.ListHandle(invt_no=x.invt_no) for x in vehicle.lists),
            areain_etpsno=vehicle.zone,
        )
        row, _new = desk.file_pass(self.engine, principal, filing, self.params, self.now)
        return row.passport_no

    def hold(self, passport_no: str, district: str) -> None:
        from cbec.service import gate as desk

        officer = Principal.of(f"{OFFICER_PREFIX}{district}", [Role.OFFICER], district=district)
        desk.place_hold(
            self.engine,
            officer,
            kind="hold",
            target_kind="pass",
            target=passport_no,
            reason_zh="模拟布控",
            reason_en="simulated hold",
            now=self.now,
        )

    def decide(self, events: Sequence[sim.PlannedEvent]) -> dict[str, dict[str, Any]]:
        from cbec.service import gate as desk
        from cbec.store.gate import Scope

        gate_events = [
            desk.GateEvent(e.event_id, f"L{e.vehicle % 4 + 1}", e.at, e.plate, e.ic, e.container, e.weight_g)
            for e in events
        ]
        decided = desk.decide_events(
            self.engine,
            gate_events,
            reporter="gate-sim",
            scope=Scope(everything=True),
            params=self.params,
            now=self.now,
        )
        return {d["eventId"]: d for d in decided}


class HttpDriver:
    """Files, holds and sends each vehicle over HTTP, one request at a time, recording each latency."""

    def __init__(self, url: str, keys: Mapping[str, str]) -> None:
        import httpx

        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=30)
        self.keys = keys
        self.latencies: list[float] = []
        self.zone_of: dict[int, str] = {}

    def _post(self, path: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        r = self.client.post(path, json=body, headers={"X-API-Key": key})
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
        out: dict[str, Any] = r.json()
        return out

    def file(self, vehicle: sim.Vehicle) -> str:
        self.zone_of[vehicle.index] = vehicle.zone
        return str(self._post("/v1/gate/passes", self.keys[vehicle.zone], vehicle.filing())["passportNo"])

    def hold(self, passport_no: str, district: str) -> None:
        body = {
            "targetKind": "pass",
            "target": passport_no,
            "reason_zh": "模拟布控",
            "reason_en": "simulated hold",
        }
        self._post("/v1/gate/holds", self.keys[f"{OFFICER_PREFIX}{district}"], body)

    def decide(self, events: Sequence[sim.PlannedEvent]) -> dict[str, dict[str, Any]]:
        out = {}
        for e in events:
            t0 = time.perf_counter()
            # each zone's own gate reports its vehicles (an officer's key sees only its district's passes)
            d = self._post("/v1/gate/events", self.keys[self.zone_of[e.vehicle]], e.body())
            self.latencies.append(time.perf_counter() - t0)
            out[e.event_id] = d
        return out


def run(driver: Driver, plan: sim.Plan) -> dict[str, Any]:
    """File every pass, place the planted holds, drive the day's vehicles; the report."""
    district_of = {z[2]: z[0] for z in BONDED_ZONES}
    numbers: dict[int, str] = {}
    for v in plan.vehicles:
        numbers[v.index] = driver.file(v)
    for i in plan.holds:
        driver.hold(numbers[i], district_of[plan.vehicles[i].zone])
    t0 = time.perf_counter()
    decisions = driver.decide(plan.events)
    report = sim.report(plan, decisions)
    report["decideSeconds"] = round(time.perf_counter() - t0, 3)
    return report


# --- the command --------------------------------------------------------------------------------------------
def send_traffic(
    url: str, traffic: Path, keys: Mapping[str, str], progress: Callable[[int], None] | None = None
) -> int:
    """POST a generated day to a running service, each message with its sender's key."""
    import re

    import httpx

    from cbec.engine.clear import iter_inputs

    cop = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")
    sent = 0
    with httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
        for _name, data in iter_inputs(traffic):
            found = cop.search(data)
            assert found is not None, "generated message without copCode"
            r = client.post(
                "/v1/messages",
                content=data,
                headers={"X-API-Key": keys[found.group(1).decode()], "Content-Type": "application/xml"},
            )
            if r.status_code >= 300 and r.status_code != 409:
                raise RuntimeError(f"POST /v1/messages: {r.status_code} {r.text[:300]}")
            sent += 1
            if progress:
                progress(1)
    return sent


def remote_world(
    url: str, database: str, folder: Path, *, parcels: int, seed: int
) -> tuple[Engine, dict[str, str]]:
    """The cast and the zone operators filed in the service's database, a day of 1210 traffic POSTed to the
    service and cleared by its clearing loop; the engine and every API key."""
    from cbec.service.cast import file_cast, use_signing_dir
    from cbec.sim.generate import GeneratorConfig, write_corpus
    from cbec.store import connect
    from cbec.store import spool as spool_repo

    engine = connect(database)
    cast = file_cast(engine, folder / "keys")
    use_signing_dir(cast)
    keys = {**cast.keys, **file_gate_parties(engine)}
    config = GeneratorConfig(
        parcels=parcels,
        seed=seed,
        bonded_share=1.0,
        docs_per_message=(1, 20),
        faults={"missing_payment": 0.02},
    )
    write_corpus(folder / "traffic", config, workers=1)
    send_traffic(url, folder / "traffic", keys)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if not spool_repo.unprocessed(engine):  # the intake spool too (cbec serve on SQLite)
            break
        time.sleep(0.2)
    return engine, keys


def simulate(
    parcels: Annotated[int, typer.Option(min=10, help="1210 parcels in the day")] = 2000,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same day")] = 1,
    rate: Annotated[float, typer.Option(min=0, max=0.15, help="share of vehicles per planted fault")] = 0.05,
    out_dir: Annotated[Path, typer.Option("--out", help="working folder (in-process mode)")] = Path(
        "out/gate"
    ),
    url: Annotated[str | None, typer.Option(help="a running `cbec serve` to drive over HTTP")] = None,
    database: Annotated[
        str | None, typer.Option(help="with --url: the service's database URL (to file the parties)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Drive a day of vehicles through the non-stop gate with planted mismatches; report what was caught."""
    from cbec.params import default_parameters

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    now = datetime.now(UTC)
    rates = dict.fromkeys(sim.FAULTS, rate)
    t0 = time.perf_counter()
    driver: Driver
    if url:
        if not database:
            _err.print("[red]--url needs --database (the service's database) / 需同时给出 --database[/red]")
            raise typer.Exit(2)
        engine, keys = remote_world(url, database, out_dir, parcels=parcels, seed=seed)
        driver = HttpDriver(url, keys)
    else:
        engine = clear_local_day(out_dir, parcels=parcels, seed=seed)
        file_gate_parties(engine)
        driver = LocalDriver(engine, default_parameters(), now)
    lists = zone_lists(engine)
    day = datetime(2026, 11, 12, tzinfo=UTC)
    the_plan = sim.plan(lists, seed=seed, day=day, rates=rates)
    report = {
        "mode": "http" if url else "in-process",
        "parcels": parcels,
        "seed": seed,
        **run(driver, the_plan),
    }
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if isinstance(driver, HttpDriver) and driver.latencies:
        ordered = sorted(driver.latencies)
        report["latencyMs"] = {
            p: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)
            for p, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        }
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        table = Table(title="cbec gate simulate — 无感卡口模拟：埋设异常 / 查获", show_header=True)
        for col in ("fault 异常", "planted 埋设", "caught 查获"):
            table.add_column(col)
        for name, f in report["faults"].items():
            table.add_row(name, str(f["planted"]), str(f["caught"]))
        table.add_row("clean vehicles stopped 正常车辆被拦", "", str(report["clean"]["stopped"]))
        _out.print(table)
        _out.print(
            f"vehicles {report['vehicles']}, events {report['events']}, lifted {report['clean']['lifted']}, "
            f"{'OK 全部查获且无误拦' if report['ok'] else 'NOT OK 有漏查或误拦'}"
        )
    raise typer.Exit(0 if report["ok"] else 1)


app.command(name="simulate")(simulate)
