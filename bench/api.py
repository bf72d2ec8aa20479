"""Benchmark: the HTTP service under load over loopback, then a check that nothing acknowledged was lost.

Prints one JSON line.  Steps:

1. a fresh database (SQLite in a temporary folder, or ``--database URL``) with the demo cast filed (every
   generated platform, enterprise, payment and logistics company and agent, each with its API key; agents
   with signing certificates), and a generated day of import traffic signed with those keys;
2. ``cbec serve --no-clearing`` (the API) and ``cbec worker`` (the clearing loop) as two processes;
3. ``--clients`` threads POST the messages in arrival order, each with its sender's key, until all are sent
   or ``--seconds`` have passed; every request's latency is recorded;
4. wait for the worker to clear everything accepted, then check that each document of every acknowledged
   message was answered by a receipt (and that no message was acknowledged without being stored).

    python bench/api.py --parcels 20000

Figures: documents/s and messages/s sustained while sending; p50/p95/p99 latency of the POSTs; the time the
worker needed after the last POST to clear the backlog; ``lost`` (acknowledged but not stored or not
answered) must be 0.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _steal import cpu_ticks, steal_share

REPO = Path(__file__).resolve().parent.parent
COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")
GUID = re.compile(rb"<(?:\w+:)?guid>([^<]+)<")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cbec(*args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cbec.cli", *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    import httpx
    from lxml import etree

    from cbec.engine.clear import iter_inputs
    from cbec.service.cast import file_cast, use_signing_dir
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
    from cbec.store import connect
    from cbec.store import inbox as inbox_repo
    from cbec.store import outbox as outbox_repo
    from cbec.store import spool as spool_repo

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument(
        "--rate",
        type=float,
        default=1500.0,
        help="documents/s offered (paced, open loop); 0: as fast as possible",
    )
    ap.add_argument("--seconds", type=float, default=300.0, help="stop sending after this long")
    ap.add_argument("--drain-seconds", type=float, default=600.0, help="wait at most this long for clearing")
    ap.add_argument("--docs-per-message", default="1,100", help="documents per message: MIN,MAX")
    ap.add_argument("--database", default=None, help="database URL (default: a new SQLite file)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--latencies",
        type=Path,
        default=None,
        help="also write every POST (sent at, latency, documents, bytes, status) to this CSV file",
    )
    ap.add_argument("--worker-after", action="store_true", help="start clearing only after the last POST")
    ap.add_argument("--worker-nice", type=int, default=0, help="CPU priority of the clearing worker (nice)")
    ap.add_argument(
        "--api-processes", type=int, default=1, help="HTTP processes of the service (cbec serve --processes)"
    )
    ap.add_argument(
        "--gather", type=float, default=0.5, help="the worker starts a batch at most every this many seconds"
    )
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.docs_per_message.split(","))

    work = Path(tempfile.mkdtemp(prefix="cbec-bench-api-"))
    url = args.database or f"sqlite:///{work / 'cbec.db'}"
    report: dict[str, object] = {
        "bench": "api",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "backend": url.split(":", 1)[0],
        "parcels": args.parcels,
        "clients": args.clients,
        "gather_s": args.gather,
        "api_processes": args.api_processes,
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        engine = connect(url)
        cast = file_cast(engine, work / "keys")
        use_signing_dir(cast)
        engine.dispose()
        traffic = work / "traffic"
        write_corpus(
            traffic,
            GeneratorConfig(
                parcels=args.parcels, seed=args.seed, faults=dict(DEFAULT_FAULTS), docs_per_message=(lo, hi)
            ),
        )
        messages: list[tuple[bytes, str, int]] = []
        for _name, data in iter_inputs(traffic):
            found = COP.search(data)
            assert found is not None
            messages.append((data, cast.keys[found.group(1).decode()], len(GUID.findall(data))))

        port = _free_port()
        procs.append(
            _cbec(
                "serve",
                "--no-clearing",
                "--no-webhooks",
                "--port",
                str(port),
                "--processes",
                str(args.api_processes),
                "--database",
                url,
                log=work / "serve.log",
            )
        )
        if not args.worker_after:
            procs.append(
                _cbec(
                    "worker",
                    "--no-webhooks",
                    "--nice",
                    str(args.worker_nice),
                    "--gather",
                    str(args.gather),
                    "--database",
                    url,
                    log=work / "worker.log",
                )
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise SystemExit(f"the service did not start; see {work / 'serve.log'}")
            time.sleep(0.2)

        lock = threading.Lock()
        cursor = [0]
        docs_before = [0]
        for _data, _key, n in messages:
            docs_before.append(docs_before[-1] + n)
        latencies: list[float] = []
        timeline: list[tuple[float, float, int, int, int]] = []  # sent at, took, documents, bytes, status
        acked: list[int] = []
        failures: dict[str, int] = {}
        stop_at = time.monotonic() + args.seconds

        def client() -> None:
            # the standard library's client on a kept-alive connection: it costs the shared CPU far less
            # than httpx would, and the load generator runs on the same two cores as the service
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                while time.monotonic() < stop_at:
                    with lock:
                        i = cursor[0]
                        cursor[0] += 1
                    if i >= len(messages):
                        return
                    data, key, docs = messages[i]
                    if args.rate > 0:  # the message's turn in a steady stream of --rate documents/s
                        wait = t_start + docs_before[i] / args.rate - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)
                    t0 = time.perf_counter()
                    conn.request(
                        "POST",
                        "/v1/messages",
                        body=data,
                        headers={"X-API-Key": key, "Content-Type": "application/xml"},
                    )
                    response = conn.getresponse()
                    response.read()
                    took = time.perf_counter() - t0
                    with lock:
                        latencies.append(took)
                        timeline.append((t0 - t_perf, took, docs, len(data), response.status))
                        if response.status == 202:
                            acked.append(i)
                        else:
                            failures[str(response.status)] = failures.get(str(response.status), 0) + 1
            finally:
                conn.close()

        t_start = time.monotonic()
        t_perf = time.perf_counter()
        ticks = cpu_ticks()
        report["offered_documents_per_s"] = args.rate or "max"
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        send_s = time.monotonic() - t_start
        ticks_after = cpu_ticks()
        if args.latencies is not None:
            with args.latencies.open("w") as out:
                out.write("sent_at_s,latency_ms,documents,bytes,status\n")
                for at, took, docs, size, status in sorted(timeline):
                    out.write(f"{at:.4f},{took * 1000:.2f},{docs},{size},{status}\n")
        docs_acked = sum(messages[i][2] for i in acked)

        # drain: the worker clears the backlog
        if args.worker_after:
            procs.append(
                _cbec(
                    "worker",
                    "--no-webhooks",
                    "--nice",
                    str(args.worker_nice),
                    "--gather",
                    str(args.gather),
                    "--database",
                    url,
                    log=work / "worker.log",
                )
            )
        engine = connect(url)
        t_drain = time.monotonic()
        while time.monotonic() - t_drain < args.drain_seconds:
            if not spool_repo.unprocessed(engine):  # SQLite: the intake spool too
                break
            time.sleep(0.2)
        drain_s = time.monotonic() - t_drain

        # every acknowledged message stored, every document of it answered by a receipt
        answered: set[bytes] = set()
        with engine.connect() as conn:
            after = 0
            while True:
                rows = outbox_repo.feed(conn, sorted({c for c in cast.keys}), after=after, limit=5000)
                if not rows:
                    break
                after = rows[-1].id
                for r in rows:
                    root = etree.fromstring(r.xml)
                    answered.update((el.text or "").encode() for el in root.iter("{*}guid"))
            acked_guids = [GUID.findall(messages[i][0]) for i in acked]
            stored = inbox_repo.by_guids(conn, [etree.fromstring(messages[i][0]).get("guid") for i in acked])
        unanswered = sum(1 for guids in acked_guids for g in guids[0:] if g not in answered)
        # GUID.findall also finds the message's own root guid? no: the root guid is an attribute
        report.update(
            {
                "messages_sent": len(latencies),
                "messages_acked": len(acked),
                "failures": failures,
                "documents_acked": docs_acked,
                "send_seconds": round(send_s, 2),
                "cpu_steal_share": steal_share(ticks, ticks_after),
                "documents_per_s": round(docs_acked / send_s),
                "messages_per_s": round(len(acked) / send_s, 1),
                "latency_ms": {
                    "p50": round(_percentile(latencies, 50) * 1000, 1),
                    "p95": round(_percentile(latencies, 95) * 1000, 1),
                    "p99": round(_percentile(latencies, 99) * 1000, 1),
                    "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
                },
                "drain_seconds_after_send": round(drain_s, 2),
                "end_to_end_documents_per_s": round(docs_acked / (send_s + drain_s)),
                "acked_not_stored": len(acked) - len(stored),
                "documents_unanswered": unanswered,
                "lost": (len(acked) - len(stored)) + unanswered,
            }
        )
        engine.dispose()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            report["folder"] = str(work)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report.get("lost") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
