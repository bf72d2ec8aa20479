"""Export-return traffic (出口退货): export days, then the returns of their parcels months later — individual
returns, returns in batches, cross-district returns into a filed return site, consolidated master bills
(退货合包) tallied parcel by parcel — with planted faults and a manifest of expected outcomes.

Returns are drawn per parcel at a rate by goods category (``RETURN_RATES``: apparel 14 %, footwear 10 %,
electronics 5 %, others 3 % — about 6 % overall over the tariff lines the export generator draws from).
No public source gives CBEC *export* return rates by category; the figures are guesses in the range the
trade press reports for cross-border e-commerce (apparel and footwear highest), kept here as data.

The traffic spans several days, because the return rules are dated (the 1-year window, the cross-district
pilot from 2024-12-15, nationwide from 2026-04-01): each day is a folder ``<YYYY-MM-DD>/`` to be cleared
with ``cbec clear <folder> --now <day>T23:00:00`` in date order, into a fresh store (the invtNos of the
manifest assume the store's list numbering starts at 1).  ``return-sites.csv`` lists the sites to file
first (``cbec return-site file``).

Planted faults (manifest ``fault`` and ``expected_code``): ``over_quantity`` (−213907), ``after_one_year``
(−213904), ``cross_district_before_pilot`` (−213908, 2024-11-20), ``cross_district_outside_pilot`` (−213908,
2025-06-20, re-entry through a district not in the pilot list), ``unregistered_site`` (tally −215902).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cbec.messages.decode import decode
from cbec.messages.encode_columns import encode_documents
from cbec.messages.signature import requires_signature
from cbec.rules import export_returns as R
from cbec.sim.chunk import signer_for
from cbec.sim.exports import ExportConfig, generate_exports
from cbec.sim.parties import Party

#: return share by the first two digits of the HS code (guesses, see the module docstring)
RETURN_RATES: dict[str, float] = {"61": 0.14, "62": 0.14, "64": 0.10, "42": 0.06, "85": 0.05, "95": 0.04}
DEFAULT_RATE = 0.03
#: a filed cross-district return site (Ningbo, a pilot district) and one that is not filed (Shanghai)
SITE = Party("3302960701", "宁波栎社跨境电商退货监管中心")
UNFILED = Party("3101960702", "上海未备案退货仓")
RETURN_HUB = Party("3301960801", "海外退货集运有限公司")
SITE_CUSTOMS, UNFILED_CUSTOMS = "3100", "2200"
CONSOLIDATED_SHARE = 0.6  # returns consolidated under a master bill
CROSS_SHARE = 0.25  # 9610 returns that re-enter through the Ningbo site
PARTIAL_SHARE = 0.3  # returns of part of a line
BATCH_SHARE = 0.15  # returns split in two applications


@dataclass
class ReturnConfig:
    parcels: int = 150  # export parcels of the main export day
    seed: int = 1
    faults: bool = True
    rate_scale: float = 1.0  # tests scale the rates up to get enough returns from a small day
    main_export: date = date(2026, 5, 11)
    main_return: date = date(2026, 6, 15)


@dataclass
class ReturnDay:
    day: date
    messages: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class ReturnTraffic:
    days: list[ReturnDay]
    manifest: list[dict[str, Any]]
    sites: list[dict[str, Any]]


def _guid(rng: random.Random) -> str:
    a, b, c, d, e = (rng.getrandbits(n) for n in (32, 16, 16, 16, 48))
    return f"{a:08X}-{b:04X}-{c:04X}-{d:04X}-{e:012X}"


def _exported(messages: Sequence[tuple[str, bytes]], first_serial: int) -> list[dict[str, Any]]:
    """The lists of an export day that departed, with their predicted invtNo and lines."""
    lists, cancelled, departed = [], set(), set()
    for name, xml in messages:
        mtype = name.split("/")[0]
        if mtype not in ("CEB603Message", "CEB605Message", "CEB509Message"):
            continue
        for doc in decode(xml).documents:
            if mtype == "CEB603Message":
                lists.append(doc)
            elif mtype == "CEB605Message":
                cancelled.add(str(doc.head["invtNo"]))
            else:
                departed |= {str(x["logisticsNo"]) for x in doc.lines}
    out = []
    for i, doc in enumerate(lists):
        h = doc.head
        invt = f"{h['customsCode']}{h['appTime'].year}E{first_serial + i:09d}"
        if invt in cancelled or str(h["logisticsNo"]) not in departed:
            continue
        # before the 9810 pre-refund (2025-01-27) a line marked HWC-YT refuses its list (−603908)
        prerefund = any("HWC-YT" in str(x.get("note") or "") for x in doc.lines)
        if prerefund and h["appTime"].date() < date(2025, 1, 27):
            continue
        out.append({"invt_no": invt, "head": h, "lines": doc.lines})
    return out


def generate_returns(config: ReturnConfig) -> ReturnTraffic:
    """Export days and return days, in date order, with the manifest of expected outcomes."""
    rng = random.Random(f"returns:{config.seed}")
    days: list[ReturnDay] = []
    serial = 1
    exports: dict[str, list[dict[str, Any]]] = {}
    for label, day, n in (
        ("old", date(2024, 10, 10), 12),
        ("last_year", date(2025, 5, 12), 12),
        ("main", config.main_export, config.parcels),
    ):
        traffic = generate_exports(
            ExportConfig(
                parcels=n,
                seed=config.seed * 10 + len(days),
                day=datetime(day.year, day.month, day.day, 8),
                faults={},
            )
        )
        days.append(ReturnDay(day, list(traffic.messages)))
        exports[label] = _exported(traffic.messages, serial)
        serial += n
    manifest: list[dict[str, Any]] = []
    early = ReturnDay(date(2024, 11, 20))
    pilot = ReturnDay(date(2025, 6, 20))
    main = ReturnDay(config.main_return)
    bills: dict[str, list[dict[str, Any]]] = {}
    counter = iter(range(1, 10**6))

    def emit(
        target: ReturnDay,
        mtype: str,
        heads: list[dict[str, Any]],
        lines: list[dict[str, Any]] | None,
        who: Party,
    ) -> None:
        h = pl.DataFrame(heads, infer_schema_length=None).with_columns(
            pl.lit(0, pl.Int32).alias("_msg"), pl.int_range(pl.len(), dtype=pl.Int32).alias("_doc")
        )
        ln = None
        if lines is not None:
            ln = pl.DataFrame(lines, infer_schema_length=None).with_columns(
                pl.lit(0, pl.Int32).alias("_msg"), pl.col("_doc").cast(pl.Int32)
            )
        transfer: dict[str, str | None] = {
            "copCode": who.code,
            "copName": who.name,
            "dxpMode": "DXP",
            "dxpId": f"DXPENT{who.code}",
        }
        signer = None
        if requires_signature(mtype, heads):  # declared (appStatus 2) documents are signed (2022 spec)
            signer = signer_for(who.code)
        for _m, xml in encode_documents(
            mtype, h, ln, transfers={0: transfer}, guids={0: _guid(rng)}, signer=signer
        ):
            target.messages.append((f"{mtype}/{next(counter):07d}.xml", xml))

    def apply(
        target: ReturnDay,
        parcel: dict[str, Any],
        lines: list[tuple[dict[str, Any], Decimal]],
        *,
        customs: str,
        fault: str,
        code: str,
        part: str = "",
        bill_no: str | None = None,
        site: tuple[str, Party] | None = None,
        tally: bool = True,
    ) -> None:
        h = parcel["head"]
        n = next(counter)
        ret_no = f"RT{config.seed:02d}{n:08d}"
        when = datetime(target.day.year, target.day.month, target.day.day, 9) + timedelta(seconds=n)
        emit(
            target,
            "CEB213Message",
            [
                {
                    "guid": _guid(rng),
                    "appType": "1",
                    "appTime": when,
                    "appStatus": "2",
                    "customsCode": customs,
                    "ebpCode": h["ebpCode"],
                    "ebpName": h["ebpName"],
                    "ebcCode": h["ebcCode"],
                    "ebcName": h["ebcName"],
                    "logisticsNo": ret_no,
                    "logisticsCode": RETURN_HUB.code,
                    "logisticsName": RETURN_HUB.name,
                    "coElNo": f"R{ret_no}{part}",
                    "invtNo": parcel["invt_no"],
                    "tradeMode": h["tradeMode"],
                    "agentCode": h["agentCode"],
                    "agentName": h["agentName"],
                    "billNo": bill_no or ret_no,
                    "ieFlag": "I",
                    "trafMode": "5",
                    "trafName": "CZ",
                    "portCode": customs,
                    "reason": "买家退货 returned by the buyer",
                    "country": h["country"],
                    "voyageNo": "CZ3100",
                }
            ],
            [
                {
                    "_doc": 0,
                    "gnum": x["gnum"],
                    "gcode": x["gcode"],
                    "gname": x["gname"],
                    "gmodel": x["gmodel"],
                    "qty": q,
                    "qty1": q,
                    "unit": x["unit"],
                    "unit1": x["unit1"],
                }
                for x, q in lines
            ],
            Party(h["agentCode"], h["agentName"]),
        )
        op_customs, op = site or (customs, Party(f"{customs}960799", f"{customs}关区跨境电商监管场所"))
        if tally:
            parcel_row = {
                "logisticsNo": ret_no,
                "invtNo": parcel["invt_no"],
                "site": op,
                "customs": op_customs,
            }
            if bill_no:
                bills.setdefault(bill_no, []).append(parcel_row)
            emit(
                target,
                "CEB215Message",
                [
                    {
                        "guid": _guid(rng),
                        "appType": "1",
                        "appTime": when + timedelta(hours=4),
                        "appStatus": "2",
                        "customsCode": op_customs,
                        "operatorCode": op.code,
                        "operatorName": op.name,
                        "logisticsCode": RETURN_HUB.code,
                        "logisticsName": RETURN_HUB.name,
                        "logisticsNo": ret_no,
                        "invtNo": parcel["invt_no"],
                        "coElNo": f"T{ret_no}",
                        "billNo": bill_no or ret_no,
                        "ieFlag": "I",
                        "trafMode": "5",
                        "trafName": "CZ",
                        "voyageNo": "CZ3100",
                        "location": f"退货区A-{n % 40:02d}",
                    }
                ],
                None,
                op,
            )
        manifest.append(
            {
                "day": target.day.isoformat(),
                "invtNo": parcel["invt_no"],
                "coElNo": f"R{ret_no}{part}",
                "logisticsNo": ret_no,
                "tradeMode": h["tradeMode"],
                "exportCustoms": h["customsCode"],
                "returnCustoms": customs,
                "billNo": bill_no or "",
                "fault": fault,
                "expected_status": R.REFUSED
                if code.startswith("-2139")
                else (R.ACCEPTED if code else R.RELEASED),
                "expected_code": code,
                "lines": len(lines),
            }
        )

    def whole(parcel: dict[str, Any]) -> list[tuple[dict[str, Any], Decimal]]:
        return [(x, Decimal(str(x["qty"]))) for x in parcel["lines"]]

    # 2024-11-20: a return of an October 2024 export through another district, before the pilot (refused)
    # and one through its own district (accepted, tallied)
    old = [x for x in exports["old"] if x["head"]["tradeMode"] == "9610"]
    if config.faults and old:
        other = SITE_CUSTOMS if old[0]["head"]["customsCode"] != SITE_CUSTOMS else UNFILED_CUSTOMS
        apply(
            early,
            old[0],
            whole(old[0]),
            customs=other,
            fault="cross_district_before_pilot",
            code=R.RETURN_CROSS_DISTRICT,
            tally=False,
        )
    for parcel in old[1:3]:
        apply(early, parcel, whole(parcel), customs=parcel["head"]["customsCode"], fault="", code="")
    # 2025-06-20, during the pilot: a 9610 return through Ningbo (a pilot district) into the filed site is
    # accepted; one through Qingdao (4200, not among the pilot districts cbec knows) is refused
    outside = [x for x in exports["last_year"][1:] if x["head"]["tradeMode"] == "9610"]
    if outside:
        apply(
            pilot,
            outside[0],
            whole(outside[0]),
            customs=SITE_CUSTOMS,
            fault="",
            code="",
            site=(SITE_CUSTOMS, SITE),
        )
    if config.faults and len(outside) > 1:
        apply(
            pilot,
            outside[1],
            whole(outside[1]),
            customs="4200",
            fault="cross_district_outside_pilot",
            code=R.RETURN_CROSS_DISTRICT,
            tally=False,
        )
    # main return day: a return more than a year after its export (refused)
    if config.faults and exports["last_year"]:
        p0 = exports["last_year"][0]
        apply(
            main,
            p0,
            whole(p0),
            customs=p0["head"]["customsCode"],
            fault="after_one_year",
            code=R.RETURN_WINDOW,
            tally=False,
        )
    bill_seq = iter(range(1, 10**6))
    bill_no = f"RMAWB{config.seed:02d}{next(bill_seq):05d}"
    faults_left = {"over_quantity": 2, "unregistered_site": 2} if config.faults else {}
    for parcel in exports["main"]:
        chapter = str(parcel["lines"][0]["gcode"])[:2]
        if rng.random() >= RETURN_RATES.get(chapter, DEFAULT_RATE) * config.rate_scale:
            continue
        h = parcel["head"]
        mode = h["tradeMode"]
        if mode not in ("9610", "1210", "9810"):
            continue
        cross = mode == "9610" and h["customsCode"][:2] != SITE_CUSTOMS[:2] and rng.random() < CROSS_SHARE
        customs = SITE_CUSTOMS if cross else h["customsCode"]
        site = (SITE_CUSTOMS, SITE) if cross else None
        consolidated = rng.random() < CONSOLIDATED_SHARE
        bno = bill_no if consolidated else None
        if consolidated and len(bills.get(bill_no, [])) >= 20:
            bill_no = f"RMAWB{config.seed:02d}{next(bill_seq):05d}"
            bno = bill_no
        if faults_left.get("over_quantity"):
            faults_left["over_quantity"] -= 1
            x = parcel["lines"][0]
            apply(
                main,
                parcel,
                [(x, Decimal(str(x["qty"])) + 1)],
                customs=h["customsCode"],
                fault="over_quantity",
                code=R.RETURN_QUANTITY,
                tally=False,
            )
            continue
        if (
            faults_left.get("unregistered_site")
            and mode == "9610"
            and h["customsCode"][:2] != UNFILED_CUSTOMS[:2]
        ):
            faults_left["unregistered_site"] -= 1
            apply(
                main,
                parcel,
                whole(parcel),
                customs=UNFILED_CUSTOMS,
                fault="unregistered_site",
                code=R.TALLY_SITE,
                site=(UNFILED_CUSTOMS, UNFILED),
            )
            continue
        lines = whole(parcel)
        first_qty = lines[0][1]
        if first_qty >= 2 and rng.random() < BATCH_SHARE:
            half = (first_qty / 2).to_integral_value()
            apply(
                main,
                parcel,
                [(lines[0][0], half)],
                customs=customs,
                fault="",
                code="",
                part="a",
                bill_no=bno,
                site=site,
            )
            apply(
                main,
                parcel,
                [(lines[0][0], first_qty - half)],
                customs=customs,
                fault="",
                code="",
                part="b",
                bill_no=bno,
                site=site,
            )
            continue
        if first_qty >= 2 and rng.random() < PARTIAL_SHARE:
            lines = [(lines[0][0], first_qty - 1)]
        apply(main, parcel, lines, customs=customs, fault="", code="", bill_no=bno, site=site)
    # the consolidated master bills (CEB607, one line per parcel naming its original list) come first
    head_msgs: list[tuple[str, bytes]] = []
    for bno, parcels in sorted(bills.items()):
        hub_day = ReturnDay(main.day)
        emit(
            hub_day,
            "CEB607Message",
            [
                {
                    "guid": _guid(rng),
                    "appType": "1",
                    "appTime": datetime(main.day.year, main.day.month, main.day.day, 8),
                    "appStatus": "2",
                    "customsCode": parcels[0]["customs"],
                    "copNo": f"MB{bno}",
                    "agentCode": RETURN_HUB.code,
                    "agentName": RETURN_HUB.name,
                    "trafMode": "5",
                    "trafName": "CZ",
                    "voyageNo": "CZ3100",
                    "billNo": bno,
                    "grossWeight": Decimal("1.5") * len(parcels),
                    "logisticsCode": RETURN_HUB.code,
                    "logisticsName": RETURN_HUB.name,
                    "msgCount": 1,
                    "msgSeqNo": 1,
                }
            ],
            [
                {
                    "_doc": 0,
                    "gnum": g,
                    "logisticsNo": x["logisticsNo"],
                    "invtNo": x["invtNo"],
                    "totalPackageNo": f"{bno}-1",
                }
                for g, x in enumerate(parcels, 1)
            ],
            RETURN_HUB,
        )
        head_msgs += hub_day.messages
    main.messages = head_msgs + main.messages
    days = [days[0], early, days[1], pilot, days[2], main]
    sites = [
        {
            "customs_code": SITE_CUSTOMS,
            "operator_code": SITE.code,
            "name": SITE.name,
            "valid_from": "2024-12-15",
            "return_area": "yes",
            "data_open": "yes",
        }
    ]
    return ReturnTraffic([d for d in days if d.messages], manifest, sites)


def write_returns(traffic: ReturnTraffic, out_dir: Path) -> int:
    """One folder per day (clear them in order with ``--now <day>T23:00:00``), the manifest and the sites."""
    n = 0
    for d in traffic.days:
        for name, xml in d.messages:
            path = out_dir / d.day.isoformat() / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(xml)
            n += 1
    out_dir.mkdir(parents=True, exist_ok=True)
    for file, rows in (("returns-manifest.csv", traffic.manifest), ("return-sites.csv", traffic.sites)):
        with (out_dir / file).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["invtNo"])
            writer.writeheader()
            writer.writerows(rows)
    return n
