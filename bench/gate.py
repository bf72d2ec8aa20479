"""Benchmark: the non-stop gate decision over loopback at a steady rate of vehicles, beside the clearing loop.

Prints one JSON line.  Steps:

1. a fresh SQLite database (or ``--database URL``) with the demo cast and the bonded zones' operators and
   officers filed, and ``cbec serve`` on it (API, clearing loop; no webhooks);
2. a generated day of 1210 parcels POSTed to the service and cleared by its clearing loop;
3. one gate pass per vehicle (1–3 parcels each, so that there are many vehicles), a few planted faults;
4. a driver process of its own (:func:`drive`, ``--connections`` keep-alive connections) sends the vehicles
   to ``POST /v1/gate/events`` on an open-loop schedule of ``--rate`` vehicles/s for at most ``--seconds``;
   meanwhile this process sends ``--background`` messages/s of further import traffic to keep clearing busy;
5. checks that every planted fault was stopped and no clean vehicle was, and that every event is stored.

    python bench/gate.py --parcels 1600 --seconds 20 --rate 100 --worker

Figures: p50/p95/p99 of the decision round trip timed from when each vehicle was due (not when the client
got round to sending it), the p99 timed from the send, the client's worst lag behind its schedule, the
service's (and worker's) CPU per vehicle, and the load average at the end.  Target p99 ≤ 50 ms at 100/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from _steal import cpu_ticks, steal_share

COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux ``/proc``), to tell what one vehicle costs the service."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    port: int, requests: list[tuple[str, bytes, str]], rate: float, connections: int
) -> dict[str, object]:
    """Send the vehicles from this process (not the one sending background traffic), open loop.

    Vehicle ``i`` is due at ``start + i / rate`` whatever happened to the ones before; each is timed from
    the moment it was due, so a service (or a client) that falls behind shows as latency instead of quietly
    sending less (coordinated omission).  ``connections`` keep-alive connections, each on its own thread,
    so that up to that many vehicles can be waiting at once before the client itself delays one; the delay
    between due and sent (``lag``) is reported to show that it did not."""
    lock = threading.Lock()
    cursor = [0]
    due_to_done: list[float] = []
    sent_to_done: list[float] = []
    lags: list[float] = []
    answers: dict[str, bytes] = {}
    failures: dict[str, int] = {}
    start = time.monotonic() + 0.2

    def lane() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                with lock:
                    i = cursor[0]
                    cursor[0] += 1
                if i >= len(requests):
                    return
                event_id, body, key = requests[i]
                due = start + i / rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                sent = time.monotonic()
                conn.request(
                    "POST",
                    "/v1/gate/events",
                    body=body,
                    headers={"X-API-Key": key, "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                data = response.read()
                done = time.monotonic()
                with lock:
                    due_to_done.append(done - due)
                    sent_to_done.append(done - sent)
                    lags.append(sent - due)
                    if response.status == 200:
                        answers[event_id] = data
                    else:
                        failures[str(response.status)] = failures.get(str(response.status), 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=lane) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "seconds": time.monotonic() - start,
        "due_to_done": due_to_done,
        "sent_to_done": sent_to_done,
        "lags": lags,
        "answers": answers,
        "failures": failures,
    }


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]
        if ordered
        else float("nan")
    )


def main() -> int:
    import httpx
    from sqlalchemy import func, select

    from cbec.commands.gate import HttpDriver, file_gate_parties, send_traffic, zone_lists
    from cbec.engine.clear import iter_inputs
    from cbec.service.cast import file_cast, use_signing_dir
    from cbec.sim import gate as sim
    from cbec.sim.generate import GeneratorConfig, write_corpus
    from cbec.sim.parties import BONDED_ZONES
    from cbec.store import connect, gate_journal
    from cbec.store import spool as spool_repo
    from cbec.store.schema import gate_event

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=4000, help="1210 parcels cleared before the gate opens")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100.0, help="vehicles/s offered (paced, open loop)")
    ap.add_argument(
        "--connections", type=int, default=64, help="keep-alive connections of the vehicle driver process"
    )
    ap.add_argument("--seconds", type=float, default=30.0, help="stop sending vehicles after this long")
    ap.add_argument(
        "--background", type=float, default=5.0, help="import messages/s sent meanwhile (0: none)"
    )
    ap.add_argument("--fault-rate", type=float, default=0.02, help="share of vehicles per planted fault")
    ap.add_argument("--database", default=None, help="database URL (default: a new SQLite file)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--api-processes", type=int, default=1, help="HTTP processes of the service (cbec serve --processes)"
    )
    ap.add_argument(
        "--worker",
        action="store_true",
        help="clear in a separate `cbec worker` process (`cbec serve --no-clearing`), as in production",
    )
    ap.add_argument(
        "--worker-nice", type=int, default=0, help="CPU priority of the clearing worker (cbec worker --nice)"
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cbec-bench-gate-"))
    url = args.database or f"sqlite:///{work / 'cbec.db'}"
    report: dict[str, object] = {
        "bench": "gate",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "backend": url.split(":", 1)[0],
        "parcels": args.parcels,
        "rate": args.rate,
        "connections": args.connections,
        "clearing": "worker process" if args.worker else "in the service process",
        "worker_nice": args.worker_nice if args.worker else None,
        "api_processes": args.api_processes,
    }
    proc: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        engine = connect(url)
        cast = file_cast(engine, work / "keys")
        use_signing_dir(cast)
        keys = {**cast.keys, **file_gate_parties(engine)}
        day = GeneratorConfig(
            parcels=args.parcels, seed=args.seed, bonded_share=1.0, faults={"missing_payment": 0.01}
        )
        write_corpus(work / "traffic", day)
        write_corpus(work / "background", GeneratorConfig(parcels=4000, seed=args.seed + 1), workers=1)
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cbec.cli",
                "serve",
                "--port",
                str(port),
                "--database",
                url,
                "--no-webhooks",
                "--processes",
                str(args.api_processes),
                *(["--no-clearing"] if args.worker else []),
            ],
            stdout=(work / "serve.log").open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if args.worker:
            worker = subprocess.Popen(
                [
                    *[sys.executable, "-m", "cbec.cli", "worker", "--database", url, "--no-webhooks"],
                    *["--nice", str(args.worker_nice)],
                ],
                stdout=(work / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the service did not start; see {work / 'serve.log'}")
            time.sleep(0.2)
        t0 = time.monotonic()
        send_traffic(base, work / "traffic", keys)
        while spool_repo.unprocessed(engine):  # the intake spool too (cbec serve on SQLite)
            time.sleep(0.2)
        report["setup_clear_s"] = round(time.monotonic() - t0, 1)

        plan = sim.plan(
            zone_lists(engine),
            seed=args.seed,
            day=datetime.now(UTC),
            rates=dict.fromkeys(sim.FAULTS, args.fault_rate),
            per_vehicle=(1, 3),
        )
        driver = HttpDriver(base, keys)
        districts = {z[2]: z[0] for z in BONDED_ZONES}
        numbers = {v.index: driver.file(v) for v in plan.vehicles}
        for i in plan.holds:
            driver.hold(numbers[i], districts[plan.vehicles[i].zone])
        events = plan.events[: int(args.rate * args.seconds)]
        zone_of = {v.index: v.zone for v in plan.vehicles}  # each zone's own gate sends its vehicles

        background = []
        for _name, data in iter_inputs(work / "background"):
            found = COP.search(data)
            assert found is not None
            background.append((data, keys[found.group(1).decode()]))
        requests = [(e.event_id, json.dumps(e.body()).encode(), keys[zone_of[e.vehicle]]) for e in events]
        stop = threading.Event()

        def traffic() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for k, (data, key) in enumerate(background):
                    if stop.is_set():
                        return
                    wait = t_start + k / args.background - time.monotonic()
                    if wait > 0 and stop.wait(wait):
                        return
                    conn.request(
                        "POST",
                        "/v1/messages",
                        body=data,
                        headers={"X-API-Key": key, "Content-Type": "application/xml"},
                    )
                    conn.getresponse().read()
            finally:
                conn.close()

        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            pool.submit(_percentile, [], 50).result()  # the driver process is up before the clock starts
            cpu0 = {
                name: _cpu_seconds(child.pid)
                for name, child in (("service", proc), ("worker", worker))
                if child is not None
            }
            t_start = time.monotonic()
            ticks = cpu_ticks()
            feeder = threading.Thread(target=traffic, daemon=True)
            if args.background > 0:
                feeder.start()
            driven = pool.submit(drive, port, requests, args.rate, args.connections).result()
            stop.set()
            ticks_after = cpu_ticks()
            cpu1 = {
                name: _cpu_seconds(child.pid)
                for name, child in (("service", proc), ("worker", worker))
                if child is not None
            }
        latencies: list[float] = driven["due_to_done"]  # type: ignore[assignment]
        service: list[float] = driven["sent_to_done"]  # type: ignore[assignment]
        lags: list[float] = driven["lags"]  # type: ignore[assignment]
        failures: dict[str, int] = driven["failures"]  # type: ignore[assignment]
        decisions = {k: json.loads(v) for k, v in driven["answers"].items()}  # type: ignore[attr-defined]
        send_s = float(driven["seconds"])  # type: ignore[arg-type]
        sent = sim.Plan(plan.vehicles, [e for e in events if e.event_id in decisions], plan.holds)
        checked = sim.report(sent, decisions)
        deadline = time.monotonic() + 60
        while gate_journal.unmoved(engine) and time.monotonic() < deadline:
            time.sleep(0.1)  # the clearing process moves the gate journal into the database
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(gate_event))
        report.update(
            {
                "vehicles_sent": len(latencies),
                "vehicles_per_s": round(len(latencies) / send_s, 1),
                "failures": failures,
                "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
                "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
                "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
                "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
                "from_send_p99_ms": round(_percentile(service, 99) * 1000, 1),
                "client_lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
                "cpu_ms_per_vehicle": {
                    name: round((cpu1[name] - cpu0[name]) / max(1, len(latencies)) * 1000, 2) for name in cpu0
                },
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "cpu_steal_share": steal_share(ticks, ticks_after),
                "stopped": sum(1 for d in decisions.values() if d.get("decision") == "STOP"),
                "planted_caught": all(f["planted"] == f["caught"] for f in checked["faults"].values()),
                "clean_stopped": checked["clean"]["stopped"],
                "events_stored": stored,
                "background_messages_per_s": args.background,
            }
        )
        if not checked["ok"]:
            print(json.dumps(checked, ensure_ascii=False)[:3000], file=sys.stderr)
        print(json.dumps(report, ensure_ascii=False))
        return 0 if checked["ok"] and stored == len(decisions) else 1
    finally:
        for child in (proc, worker):
            if child is not None:
                child.terminate()
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
