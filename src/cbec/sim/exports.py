"""Synthetic export traffic (9610 / 9710 / 9810): orders, waybills, lists, collections, arrivals, master
bills, cancellations and departures, with planted faults and their expected outcomes (the ground truth).

Destinations are weighted like China's CBEC exports, the United States first and the United Kingdom second.
The weights are rounded shares reported in the press for GACC's 2023 CBEC statistics (US ≈ 34 %, UK ≈ 7 %,
Germany ≈ 5 %, …); the project's regime reference has no destination table, so they are a guess kept here as
data (``DESTINATIONS``), not a rule.  Modes: 9610 mostly, some 9710 and 9810 (``MODE_SHARES``).

Messages are written in the order a day produces them: each parcel's order, waybill, list and collection,
then the arrivals at the supervised site, the master bills, the cancellations sent before departure, the
departures, and last the cancellations that come too late.  File names carry that order, which is the order
``cbec clear`` takes them in.  The same seed gives the same documents.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cbec.messages.encode_columns import encode_documents
from cbec.messages.signature import requires_signature
from cbec.params.export_controls import controls_on, load_export_controls
from cbec.params.hs import load_cbec_hs
from cbec.rules import export as X
from cbec.sim.chunk import signer_for
from cbec.sim.parties import AGENTS, ENTERPRISES, LOGISTICS, PAYMENT, PLATFORMS, Party

#: (customs country code, name, share) — rounded shares of China's CBEC exports by destination (see above)
DESTINATIONS: tuple[tuple[str, str, float], ...] = (
    ("502", "United States", 0.34),
    ("303", "United Kingdom", 0.07),
    ("304", "Germany", 0.05),
    ("122", "Malaysia", 0.04),
    ("116", "Japan", 0.035),
    ("305", "France", 0.03),
    ("133", "Korea", 0.03),
    ("344", "Russia", 0.03),
    ("132", "Singapore", 0.025),
    ("501", "Canada", 0.025),
    ("601", "Australia", 0.025),
    ("429", "Mexico", 0.02),
    ("410", "Brazil", 0.02),
    ("312", "Spain", 0.02),
    ("307", "Italy", 0.02),
    ("701", "other", 0.22),
)
#: destination port (指运港) per destination, a plausible airport code (C3..4)
PORTS = {"502": "LAX", "303": "LHR", "304": "FRA", "116": "NRT", "305": "CDG", "501": "YYZ", "601": "SYD"}
MODE_SHARES = (("9610", 0.85), ("9710", 0.08), ("9810", 0.07))
CUSTOMS = (("5141", "5141"), ("2900", "2900"), ("5300", "5300"))
USD = "502"
#: supervised-site operators (监管场所经营人) that report arrivals
OPERATORS = (
    Party("5141960601", "广州白云机场跨境电商监管中心有限公司"),
    Party("3301960602", "杭州空港跨境监管场站有限公司"),
)

#: fault -> (expected list status, expected code on the list or the application)
EXPORT_FAULTS: dict[str, tuple[int, str | None]] = {
    "missing_waybill": (X.WAITING, None),
    "over_limit_b2b": (X.REFUSED, X.LIST_B2B_LIMIT),
    "simplified_licensed": (X.REFUSED, X.LIST_SIMPLIFIED),
    "cancel_after_departure": (X.CLEARED, X.CANCEL_STATUS),
}
DEFAULT_EXPORT_FAULTS = {
    "missing_waybill": 0.02,
    "over_limit_b2b": 0.02,
    "simplified_licensed": 0.02,
    "cancel_after_departure": 0.02,
}
CANCEL_SHARE = 0.02  # parcels cancelled (accepted) before departure
PREREFUND_SHARE = 0.5  # 9810 lines marked HWC-YT


@dataclass
class ExportConfig:
    parcels: int = 200
    seed: int = 1
    day: datetime = field(default_factory=lambda: datetime(2026, 11, 11, 8, 0, 0))
    faults: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EXPORT_FAULTS))
    per_movement: int = 50  # parcels per arrival / master bill / departure document


@dataclass
class ExportTraffic:
    messages: list[tuple[str, bytes]]
    manifest: list[dict[str, Any]]


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _guid(rng: random.Random) -> str:
    a, b, c, d, e = (rng.getrandbits(n) for n in (32, 16, 16, 16, 48))
    return f"{a:08X}-{b:04X}-{c:04X}-{d:04X}-{e:012X}"


def _products(on: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(goods free of export controls, goods with some control) from the compiled tariff."""
    controls = controls_on(load_export_controls(), on)
    controlled = set(controls["prefix"].to_list())
    free, other = [], []
    for row in load_cbec_hs():
        entry = {"hs10": row.hs10, "name": row.name_zh[:40], "unit1": row.unit1, "unit2": row.unit2}
        if any(row.hs10.startswith(p) or p[:4] == row.hs10[:4] for p in controlled):
            other.append(entry)
        else:
            free.append(entry)
    return free, other


def _transfer(party: Party) -> dict[str, str | None]:
    return {"copCode": party.code, "copName": party.name, "dxpMode": "DXP", "dxpId": party.dxp_id}


def generate_exports(config: ExportConfig) -> ExportTraffic:
    """The day's export messages (name, XML) in arrival order, and the manifest of expected outcomes."""
    rng = random.Random(f"exports:{config.seed}")
    free, _other = _products(config.day.date())
    day = config.day
    parcels: list[dict[str, Any]] = []
    fault_names = list(config.faults)
    for n in range(config.parcels):
        mode = rng.choices([m for m, _ in MODE_SHARES], [w for _, w in MODE_SHARES])[0]
        fault = None
        roll = rng.random()
        acc = 0.0
        for name in fault_names:
            acc += config.faults[name]
            if roll < acc:
                fault = name
                break
        if fault == "over_limit_b2b":
            mode = "9710"
        if fault == "simplified_licensed":
            mode = "9610"
        dest = rng.choices([d[0] for d in DESTINATIONS], [d[2] for d in DESTINATIONS])[0]
        customs, port = rng.choice(CUSTOMS)
        flag = "A" if mode == "9610" and rng.random() < 0.3 else "B"
        if fault == "simplified_licensed":
            flag = "A"
        lines = []
        for g in range(1, rng.randint(1, 3) + 1):
            product = rng.choice(free)
            qty = Decimal(rng.randint(1, 3) if mode == "9610" else rng.randint(5, 40))
            price = _money(Decimal(str(round(rng.lognormvariate(2.5, 0.6), 2))) + Decimal("1"))
            gcode = product["hs10"]
            name = product["name"]
            if fault == "simplified_licensed" and g == 1:
                gcode, name = "8806100000", "无人驾驶航空器（无人机）"
            lines.append(
                {
                    "gnum": g,
                    "gcode": gcode,
                    "gname": name,
                    "unit": "007",
                    "unit1": product["unit1"],
                    "unit2": product["unit2"],
                    "qty": qty,
                    "price": price,
                    "itemNo": f"SKU{n:06d}{g}",
                    "prerefund": mode == "9810" and rng.random() < PREREFUND_SHARE,
                }
            )
        total = sum((line["qty"] * line["price"] for line in lines), Decimal(0))
        limit_usd = Decimal(5000) / Decimal("7.10")
        if mode in X.B2B_MODES and fault != "over_limit_b2b" and total > limit_usd:
            for line in lines:  # keep the ticket under the list limit
                line["qty"] = Decimal(1)
            total = sum((line["qty"] * line["price"] for line in lines), Decimal(0))
        if fault == "over_limit_b2b":
            lines[0]["qty"] = (limit_usd / lines[0]["price"]).to_integral_value() + 10
            total = sum((line["qty"] * line["price"] for line in lines), Decimal(0))
        for line in lines:
            line["total"] = _money(line["qty"] * line["price"])
        parcels.append(
            {
                "n": n,
                "mode": mode,
                "fault": fault,
                "dest": dest,
                "customs": customs,
                "port": port,
                "flag": flag,
                "lines": lines,
                "value": sum((x["total"] for x in lines), Decimal(0)),
                "platform": rng.choice(PLATFORMS),
                "ebc": rng.choice(ENTERPRISES),
                "agent": rng.choice(AGENTS),
                "logistics": rng.choice(LOGISTICS),
                "payment": rng.choice(PAYMENT),
                "operator": rng.choice(OPERATORS),
                "order_no": f"EX{config.seed:03d}{n:08d}",
                "logistics_no": f"EXW{config.seed:03d}{n:09d}",
                "cancel": fault is None and rng.random() < CANCEL_SHARE,
            }
        )
    out: list[tuple[str, bytes]] = []
    seq = iter(range(1, 10**9))
    # messages are encoded together per (type, sender) at the end: one columnar encode per group costs
    # what one message alone costs, so a day of one-document messages is not a per-message Polars loop
    pending: dict[tuple[str, str], list[tuple[int, list[dict[str, Any]], list[dict[str, Any]] | None]]] = {}
    senders: dict[str, Party] = {}
    guids: dict[int, str] = {}

    def emit(
        mtype: str, heads: list[dict[str, Any]], lines: list[dict[str, Any]] | None, sender: Party
    ) -> None:
        n = next(seq)
        guids[n] = _guid(rng)
        senders[sender.code] = sender
        pending.setdefault((mtype, sender.code), []).append((n, heads, lines))

    def flush() -> None:
        for (mtype, code), messages in pending.items():
            heads = [{**h, "_msg": n, "_doc": d} for n, hs, _l in messages for d, h in enumerate(hs)]
            lines = [{**ln, "_msg": n} for n, _h, ls in messages for ln in ls or []]
            h = pl.DataFrame(heads, infer_schema_length=None).with_columns(
                pl.col("_msg").cast(pl.Int32), pl.col("_doc").cast(pl.Int32)
            )
            ln = None
            if lines:
                ln = pl.DataFrame(lines, infer_schema_length=None).with_columns(
                    pl.col("_msg").cast(pl.Int32), pl.col("_doc").cast(pl.Int32)
                )
            signer = None
            if requires_signature(mtype, heads):  # declared lists, arrivals, bills, departures (2022 spec)
                signer = signer_for(code)
            transfer = _transfer(senders[code])
            for n, xml in encode_documents(
                mtype,
                h,
                ln,
                transfers={n: transfer for n, _h, _l in messages},
                guids={n: guids[n] for n, _h, _l in messages},
                signer=signer,
            ):
                out.append((f"{mtype}/{n:07d}.xml", xml))
        out.sort(key=lambda item: int(item[0].split("/")[1][:-4]))

    app = day
    for p in parcels:
        at = app + timedelta(seconds=p["n"])
        order = {
            "guid": _guid(rng),
            "appType": "1",
            "appTime": at,
            "appStatus": "2",
            "orderType": X.ORDER_TYPE_OF_MODE[p["mode"]],
            "orderNo": p["order_no"],
            "ebpCode": p["platform"].code,
            "ebpName": p["platform"].name,
            "ebcCode": p["ebc"].code,
            "ebcName": p["ebc"].name,
            "goodsValue": p["value"],
            "freight": Decimal(0),
            "currency": USD,
        }
        emit(
            "CEB303Message",
            [order],
            [
                {
                    "_doc": 0,
                    "gnum": x["gnum"],
                    "itemNo": x["itemNo"],
                    "itemName": x["gname"],
                    "unit": x["unit"],
                    "currency": USD,
                    "qty": x["qty"],
                    "price": x["price"],
                    "totalPrice": x["total"],
                }
                for x in p["lines"]
            ],
            p["platform"],
        )
        if p["fault"] != "missing_waybill":
            emit(
                "CEB505Message",
                [
                    {
                        "guid": _guid(rng),
                        "appType": "1",
                        "appTime": at,
                        "appStatus": "2",
                        "logisticsCode": p["logistics"].code,
                        "logisticsName": p["logistics"].name,
                        "logisticsNo": p["logistics_no"],
                        "freight": Decimal(0),
                        "insuredFee": Decimal(0),
                        "currency": USD,
                        "grossWeight": Decimal("1.2"),
                        "packNo": 1,
                        "goodsInfo": p["lines"][0]["gname"],
                        "ebcCode": p["ebc"].code,
                        "ebcName": p["ebc"].name,
                    }
                ],
                None,
                p["logistics"],
            )
        p["list_guid"] = _guid(rng)
        emit(
            "CEB603Message",
            [
                {
                    "guid": p["list_guid"],
                    "appType": "1",
                    "appTime": at,
                    "appStatus": "2",
                    "customsCode": p["customs"],
                    "ebpCode": p["platform"].code,
                    "ebpName": p["platform"].name,
                    "orderNo": p["order_no"],
                    "logisticsCode": p["logistics"].code,
                    "logisticsName": p["logistics"].name,
                    "logisticsNo": p["logistics_no"],
                    "copNo": f"C{p['order_no']}",
                    "ieFlag": "E",
                    "portCode": p["port"],
                    "ieDate": at.date(),
                    "statisticsFlag": p["flag"],
                    "agentCode": p["agent"].code,
                    "agentName": p["agent"].name,
                    "ebcCode": p["ebc"].code,
                    "ebcName": p["ebc"].name,
                    "ownerCode": p["ebc"].code,
                    "ownerName": p["ebc"].name,
                    "tradeMode": p["mode"],
                    "trafMode": "5",
                    "country": p["dest"],
                    "POD": PORTS.get(p["dest"], "HKG"),
                    "freight": Decimal(0),
                    "fCurrency": USD,
                    "fFlag": "3",
                    "insuredFee": Decimal(0),
                    "iCurrency": USD,
                    "iFlag": "3",
                    "wrapType": "2",
                    "packNo": 1,
                    "grossWeight": Decimal("1.2"),
                    "netWeight": Decimal("1.0"),
                }
            ],
            [
                {
                    "_doc": 0,
                    "gnum": x["gnum"],
                    "itemNo": x["itemNo"],
                    "itemName": x["gname"],
                    "gcode": x["gcode"],
                    "gname": x["gname"],
                    "gmodel": "型号 standard",
                    "barCode": "无",
                    "country": p["dest"],
                    "currency": USD,
                    "qty": x["qty"],
                    "qty1": x["qty"],
                    "unit": x["unit"],
                    "unit1": x["unit1"],
                    "price": x["price"],
                    "totalPrice": x["total"],
                    "note": X.PREREFUND_MARK if x["prerefund"] else None,
                }
                for x in p["lines"]
            ],
            p["agent"],
        )
        emit(
            "CEB403Message",
            [
                {
                    "guid": _guid(rng),
                    "appType": "1",
                    "appTime": at,
                    "appStatus": "2",
                    "ebpCode": p["platform"].code,
                    "ebpName": p["platform"].name,
                    "ebcCode": p["ebc"].code,
                    "ebcName": p["ebc"].name,
                    "orderNo": p["order_no"],
                    "payCode": p["payment"].code,
                    "payName": p["payment"].name,
                    "payNo": f"PAY{p['order_no']}",
                    "charge": p["value"],
                    "currency": USD,
                    "accountingDate": at,
                }
            ],
            None,
            p["payment"],
        )

    # the invtNos are assigned by customs in the order lists arrive: the cancellations need them
    lists_in_order = [p for p in parcels]
    for i, p in enumerate(lists_in_order, start=1):
        p["invt_no"] = f"{p['customs']}{day.year}E{i:09d}"
    moving = [
        p for p in parcels if p["fault"] not in ("missing_waybill", "over_limit_b2b", "simplified_licensed")
    ]
    later = day + timedelta(hours=6)
    for chunk_no, chunk in enumerate(_chunks(moving, config.per_movement)):
        op = chunk[0]["operator"]
        by_logistics: dict[str, list[dict[str, Any]]] = {}
        for p in chunk:
            by_logistics.setdefault(p["logistics"].code, []).append(p)
        for code, group in sorted(by_logistics.items()):
            carrier = group[0]["logistics"]
            emit(
                "CEB507Message",
                [
                    {
                        "guid": _guid(rng),
                        "appType": "1",
                        "appTime": later,
                        "appStatus": "2",
                        "customsCode": group[0]["customs"],
                        "copNo": f"ARR{config.seed}{chunk_no:05d}{code[-3:]}",
                        "operatorCode": op.code,
                        "operatorName": op.name,
                        "ieFlag": "E",
                        "trafMode": "5",
                        "billNo": f"MAWB{config.seed}{chunk_no:05d}",
                        "domesticTrafNo": "粤A12345",
                        "logisticsCode": carrier.code,
                        "logisticsName": carrier.name,
                        "msgCount": 1,
                        "msgSeqNo": 1,
                    }
                ],
                [{"_doc": 0, "gnum": g, "logisticsNo": p["logistics_no"]} for g, p in enumerate(group, 1)],
                op,
            )
            emit(
                "CEB607Message",
                [
                    {
                        "guid": _guid(rng),
                        "appType": "1",
                        "appTime": later,
                        "appStatus": "2",
                        "customsCode": group[0]["customs"],
                        "copNo": f"MB{config.seed}{chunk_no:05d}{code[-3:]}",
                        "agentCode": group[0]["agent"].code,
                        "agentName": group[0]["agent"].name,
                        "trafMode": "5",
                        "trafName": "CZ",
                        "voyageNo": f"CZ{300 + chunk_no}",
                        "billNo": f"MAWB{config.seed}{chunk_no:05d}",
                        "grossWeight": Decimal("1.2") * len(group),
                        "logisticsCode": carrier.code,
                        "logisticsName": carrier.name,
                        "msgCount": 1,
                        "msgSeqNo": 1,
                    }
                ],
                [
                    {
                        "_doc": 0,
                        "gnum": g,
                        "logisticsNo": p["logistics_no"],
                        "totalPackageNo": f"BAG{chunk_no:04d}",
                    }
                    for g, p in enumerate(group, 1)
                ],
                group[0]["agent"],
            )

    def cancel(p: dict[str, Any], when: datetime) -> None:
        emit(
            "CEB605Message",
            [
                {
                    "guid": _guid(rng),
                    "appType": "1",
                    "appTime": when,
                    "appStatus": "2",
                    "customsCode": p["customs"],
                    "copNo": f"CX{p['order_no']}",
                    "invtNo": p["invt_no"],
                    "reason": "买家取消订单 buyer cancelled",
                    "agentCode": p["agent"].code,
                    "agentName": p["agent"].name,
                    "ebcCode": p["ebc"].code,
                    "ebcName": p["ebc"].name,
                }
            ],
            None,
            p["agent"],
        )

    for p in moving:
        if p["cancel"]:
            cancel(p, later + timedelta(hours=1))
    departing = [p for p in moving if not p["cancel"]]
    for chunk_no, chunk in enumerate(_chunks(departing, config.per_movement)):
        by_logistics = {}
        for p in chunk:
            by_logistics.setdefault(p["logistics"].code, []).append(p)
        for code, group in sorted(by_logistics.items()):
            carrier = group[0]["logistics"]
            emit(
                "CEB509Message",
                [
                    {
                        "guid": _guid(rng),
                        "appType": "1",
                        "appTime": later + timedelta(hours=2),
                        "appStatus": "2",
                        "customsCode": group[0]["customs"],
                        "copNo": f"DEP{config.seed}{chunk_no:05d}{code[-3:]}",
                        "logisticsCode": carrier.code,
                        "logisticsName": carrier.name,
                        "trafMode": "5",
                        "trafName": "CZ",
                        "voyageNo": f"CZ{300 + chunk_no}",
                        "billNo": f"MAWB{config.seed}{chunk_no:05d}",
                        "leaveTime": later + timedelta(hours=3),
                        "msgCount": 1,
                        "msgSeqNo": 1,
                    }
                ],
                [{"_doc": 0, "gnum": g, "logisticsNo": p["logistics_no"]} for g, p in enumerate(group, 1)],
                carrier,
            )
    for p in departing:
        if p["fault"] == "cancel_after_departure":
            cancel(p, later + timedelta(hours=5))

    flush()
    manifest = []
    for p in parcels:
        expected: tuple[int, str | None] = EXPORT_FAULTS[p["fault"]] if p["fault"] else (X.CLEARED, None)
        if p["cancel"]:
            expected = (X.REFUSED, None)
        status, expected_code = expected
        manifest.append(
            {
                "orderNo": p["order_no"],
                "ebpCode": p["platform"].code,
                "logisticsNo": p["logistics_no"],
                "tradeMode": p["mode"],
                "statisticsFlag": p["flag"],
                "country": p["dest"],
                "fault": p["fault"] or ("cancelled" if p["cancel"] else ""),
                "expected_status": status,
                "expected_code": expected_code or "",
                "prerefund_lines": sum(1 for x in p["lines"] if x["prerefund"]),
            }
        )
    return ExportTraffic(out, manifest)


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def write_exports(traffic: ExportTraffic, out_dir: Path, *, offset: int = 0) -> int:
    """Write the messages under ``out_dir`` (one folder per type) and ``exports-manifest.csv``."""
    for name, xml in traffic.messages:
        folder, file = name.split("/")
        path = out_dir / folder / f"E{int(file[:-4]) + offset:07d}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(xml)
    with (out_dir / "exports-manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(traffic.manifest[0]) if traffic.manifest else ["orderNo"])
        writer.writeheader()
        writer.writerows(traffic.manifest)
    return len(traffic.messages)
