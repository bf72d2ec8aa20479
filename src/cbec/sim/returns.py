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
from sqlalchemy import Connection, select

from cbec.messages.columns import decode_batch
from cbec.messages.decode import decode
from cbec.messages.encode import OutDocument, encode
from cbec.messages.encode_columns import encode_documents
from cbec.messages.signature import requires_signature
from cbec.rules import export_returns as R
from cbec.sim.chunk import signer_for
from cbec.sim.exports import ExportConfig, generate_exports
from cbec.sim.parties import Party
from cbec.store.schema import decision, document, export_list

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
    start: datetime | None = None
    """When the day's applications begin (09:00 of ``day`` unless given)."""
    tallies: list[tuple[str, dict[str, Any], Party]] = field(default_factory=list)
    """The tallies to send after the applications (type, head, sender)."""

    def start_at(self) -> datetime:
        return self.start or datetime(self.day.year, self.day.month, self.day.day, 9)


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


class _Builder:
    """Writes the return documents (CEB213 per application, CEB215 per parcel, CEB607 per master bill) of
    one traffic, with the manifest of their expected outcomes; both modes (dated days, same day) use it."""

    def __init__(self, rng: random.Random, prefix: str, *, tally_after: timedelta) -> None:
        self.rng = rng
        self.prefix = prefix  # makes the return parcel and master bill numbers unique per traffic
        self.tally_after = tally_after
        self.manifest: list[dict[str, Any]] = []
        self.bills: dict[str, list[dict[str, Any]]] = {}
        self.counter = iter(range(1, 10**6))
        self.bill_seq = iter(range(1, 10**6))

    def new_bill(self) -> str:
        return f"RMAWB{self.prefix}{next(self.bill_seq):05d}"

    def emit(
        self,
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
            mtype, h, ln, transfers={0: transfer}, guids={0: _guid(self.rng)}, signer=signer
        ):
            target.messages.append((f"{mtype}/{next(self.counter):07d}.xml", xml))

    def apply(
        self,
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
        """One return application (CEB213) and, unless ``tally`` is off, its parcel's tally (CEB215)."""
        h = parcel["head"]
        n = next(self.counter)
        ret_no = f"RT{self.prefix}{n:08d}"
        when = target.start_at() + timedelta(seconds=n)
        self.emit(
            target,
            "CEB213Message",
            [
                {
                    "guid": _guid(self.rng),
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
        op_customs, op = site or (customs, tally_operator(customs))
        if tally:
            parcel_row = {
                "logisticsNo": ret_no,
                "invtNo": parcel["invt_no"],
                "site": op,
                "customs": op_customs,
            }
            if bill_no:
                self.bills.setdefault(bill_no, []).append(parcel_row)
            target.tallies.append(
                (
                    "CEB215Message",
                    {
                        "guid": _guid(self.rng),
                        "appType": "1",
                        "appTime": when + self.tally_after,
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
                    },
                    op,
                )
            )
        self.manifest.append(
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

    def parcels_returned(
        self,
        target: ReturnDay,
        exported: Sequence[dict[str, Any]],
        *,
        rate_scale: float,
        faults: dict[str, int],
        at_least: int = 0,
    ) -> None:
        """The returns of one export day's parcels, drawn at ``RETURN_RATES``: individual, partial, in two
        batches, cross-district into the filed site, consolidated under master bills, and planted faults.

        ``at_least`` draws further parcels (in order, past the rate) until that many are returned, with at
        least one cross-district and one consolidated pair among them: a small demo day would otherwise
        show none of them.
        """
        rng = self.rng
        bill_no = self.new_bill()
        chosen = 0
        crossed = False
        for i, parcel in enumerate(exported):
            chapter = str(parcel["lines"][0]["gcode"])[:2]
            h = parcel["head"]
            mode = h["tradeMode"]
            drawn = rng.random() < RETURN_RATES.get(chapter, DEFAULT_RATE) * rate_scale
            short = chosen < at_least and len(exported) - i <= 3 * (at_least - chosen)
            if not (drawn or short) or mode not in ("9610", "1210", "9810"):
                continue
            chosen += 1
            foreign = h["customsCode"][:2] != SITE_CUSTOMS[:2]
            forced = (
                bool(at_least) and not faults.get("over_quantity") and not faults.get("unregistered_site")
            )
            cross = mode == "9610" and foreign and (rng.random() < CROSS_SHARE or (forced and not crossed))
            customs = SITE_CUSTOMS if cross else h["customsCode"]
            site = (SITE_CUSTOMS, SITE) if cross else None
            consolidated = rng.random() < CONSOLIDATED_SHARE or (
                forced and len(self.bills.get(bill_no, [])) < 2
            )
            bno = bill_no if consolidated else None
            if consolidated and len(self.bills.get(bill_no, [])) >= 20:
                bill_no = self.new_bill()
                bno = bill_no
            if faults.get("over_quantity"):
                faults["over_quantity"] -= 1
                x = parcel["lines"][0]
                self.apply(
                    target,
                    parcel,
                    [(x, Decimal(str(x["qty"])) + 1)],
                    customs=h["customsCode"],
                    fault="over_quantity",
                    code=R.RETURN_QUANTITY,
                    tally=False,
                )
                continue
            if (
                faults.get("unregistered_site")
                and mode == "9610"
                and h["customsCode"][:2] != UNFILED_CUSTOMS[:2]
            ):
                faults["unregistered_site"] -= 1
                self.apply(
                    target,
                    parcel,
                    _whole(parcel),
                    customs=UNFILED_CUSTOMS,
                    fault="unregistered_site",
                    code=R.TALLY_SITE,
                    site=(UNFILED_CUSTOMS, UNFILED),
                )
                continue
            crossed = crossed or cross
            lines = _whole(parcel)
            first_qty = lines[0][1]
            if first_qty >= 2 and rng.random() < BATCH_SHARE:
                half = (first_qty / 2).to_integral_value()
                for part, qty in (("a", half), ("b", first_qty - half)):
                    self.apply(
                        target,
                        parcel,
                        [(lines[0][0], qty)],
                        customs=customs,
                        fault="",
                        code="",
                        part=part,
                        bill_no=bno,
                        site=site,
                    )
                continue
            if first_qty >= 2 and rng.random() < PARTIAL_SHARE:
                lines = [(lines[0][0], first_qty - 1)]
            self.apply(target, parcel, lines, customs=customs, fault="", code="", bill_no=bno, site=site)

    def master_bills(self, target: ReturnDay) -> list[tuple[str, bytes]]:
        """The consolidated master bills (CEB607, one line per parcel naming its original list)."""
        out: list[tuple[str, bytes]] = []
        for bno, parcels in sorted(self.bills.items()):
            hub_day = ReturnDay(target.day)
            self.emit(
                hub_day,
                "CEB607Message",
                [
                    {
                        "guid": _guid(self.rng),
                        "appType": "1",
                        "appTime": target.start_at() - timedelta(hours=1),
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
            out += hub_day.messages
        return out

    def tallies(self, target: ReturnDay) -> list[tuple[str, bytes]]:
        """The day's tallies (CEB215), one message each, in the order of their applications."""
        out = ReturnDay(target.day)
        for mtype, head, who in target.tallies:
            self.emit(out, mtype, [head], None, who)
        return out.messages


def _whole(parcel: dict[str, Any]) -> list[tuple[dict[str, Any], Decimal]]:
    return [(x, Decimal(str(x["qty"]))) for x in parcel["lines"]]


def tally_operator(customs: str) -> Party:
    """The operator of the supervised site of a customs where returns are tallied (not cross-district)."""
    return Party(f"{customs}960799", f"{customs}关区跨境电商监管场所")


#: the return sites the operator files (``cbec return-site load``; the demo files them as its cast)
RETURN_SITES: tuple[dict[str, Any], ...] = (
    {
        "customs_code": SITE_CUSTOMS,
        "operator_code": SITE.code,
        "name": SITE.name,
        "valid_from": "2024-12-15",
        "return_area": "yes",
        "data_open": "yes",
    },
)


def return_parties(export_customs: Sequence[str]) -> list[tuple[Party, str]]:
    """Who sends return traffic besides the export cast, with the role each is filed in: the return hub
    (agent of the master bills), the filed and the unfiled return site, the tally sites of each customs."""
    out = [(RETURN_HUB, "agent"), (SITE, "operator"), (UNFILED, "operator")]
    out += [(tally_operator(c), "operator") for c in sorted({*export_customs, UNFILED_CUSTOMS})]
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
    b = _Builder(rng, f"{config.seed:02d}", tally_after=timedelta(hours=4))
    early = ReturnDay(date(2024, 11, 20))
    pilot = ReturnDay(date(2025, 6, 20))
    main = ReturnDay(config.main_return)

    # 2024-11-20: a return of an October 2024 export through another district, before the pilot (refused)
    # and one through its own district (accepted, tallied)
    old = [x for x in exports["old"] if x["head"]["tradeMode"] == "9610"]
    if config.faults and old:
        other = SITE_CUSTOMS if old[0]["head"]["customsCode"] != SITE_CUSTOMS else UNFILED_CUSTOMS
        b.apply(
            early,
            old[0],
            _whole(old[0]),
            customs=other,
            fault="cross_district_before_pilot",
            code=R.RETURN_CROSS_DISTRICT,
            tally=False,
        )
    for parcel in old[1:3]:
        b.apply(early, parcel, _whole(parcel), customs=parcel["head"]["customsCode"], fault="", code="")
    # 2025-06-20, during the pilot: a 9610 return through Ningbo (a pilot district) into the filed site is
    # accepted; one through Qingdao (4200, not among the pilot districts cbec knows) is refused
    outside = [x for x in exports["last_year"][1:] if x["head"]["tradeMode"] == "9610"]
    if outside:
        b.apply(
            pilot,
            outside[0],
            _whole(outside[0]),
            customs=SITE_CUSTOMS,
            fault="",
            code="",
            site=(SITE_CUSTOMS, SITE),
        )
    if config.faults and len(outside) > 1:
        b.apply(
            pilot,
            outside[1],
            _whole(outside[1]),
            customs="4200",
            fault="cross_district_outside_pilot",
            code=R.RETURN_CROSS_DISTRICT,
            tally=False,
        )
    # main return day: a return more than a year after its export (refused)
    if config.faults and exports["last_year"]:
        p0 = exports["last_year"][0]
        b.apply(
            main,
            p0,
            _whole(p0),
            customs=p0["head"]["customsCode"],
            fault="after_one_year",
            code=R.RETURN_WINDOW,
            tally=False,
        )
    faults = {"over_quantity": 2, "unregistered_site": 2} if config.faults else {}
    b.parcels_returned(main, exports["main"], rate_scale=config.rate_scale, faults=faults)
    # the consolidated master bills come first; each day's tallies follow its applications
    for d in (early, pilot):
        d.messages += b.tallies(d)
    main.messages = b.master_bills(main) + main.messages + b.tallies(main)
    days = [days[0], early, days[1], pilot, days[2], main]
    return ReturnTraffic([d for d in days if d.messages], b.manifest, [dict(s) for s in RETURN_SITES])


@dataclass
class SameDayReturns:
    """Returns decided with the service's own clock (the demo): send ``bills``, then ``applications``,
    then ``tallies``, each cleared before the next (a tally finds its application accepted)."""

    bills: list[bytes]
    applications: list[bytes]
    tallies: list[bytes]
    manifest: list[dict[str, Any]]


def same_day_returns(
    exported: Sequence[dict[str, Any]],
    at: datetime,
    *,
    seed: int = 1,
    faults: bool = True,
    at_least: int = 6,
) -> SameDayReturns:
    """The returns of export lists released moments ago, dated ``at`` (the real clock of a running
    service): after 2026-04-01 a cross-district 9610 return is allowed through any district, into a filed
    site.  ``exported`` holds ``{"invt_no", "head", "lines"}`` per departed list (heads and lines as
    declared).  Planted faults: a return over the exported quantity (−213907) and a cross-district return
    tallied at an unfiled site (−215902)."""
    rng = random.Random(f"same-day-returns:{seed}:{at.isoformat()}")
    b = _Builder(rng, at.strftime("%m%d%H%M"), tally_after=timedelta(seconds=30))
    day = ReturnDay(at.date(), start=at - timedelta(minutes=10))
    wanted = {"over_quantity": 1, "unregistered_site": 1} if faults else {}
    b.parcels_returned(day, exported, rate_scale=1.0, faults=wanted, at_least=at_least)
    return SameDayReturns(
        bills=[x for _n, x in b.master_bills(day)],
        applications=[x for _n, x in day.messages],
        tallies=[x for _n, x in b.tallies(day)],
        manifest=b.manifest,
    )


#: import return share by the first two digits of the HS code: apparel highest, food and cosmetics lowest
#: (guesses like ``RETURN_RATES``: about 5 % overall over the tariff lines the import generator draws)
IMPORT_RETURN_RATES: dict[str, float] = {
    "61": 0.12,
    "62": 0.12,
    "64": 0.09,
    "42": 0.06,
    "85": 0.05,
    "95": 0.04,
    "33": 0.02,
    "04": 0.01,
    "19": 0.01,
    "21": 0.01,
}
IMPORT_DEFAULT_RATE = 0.04


def declared_lists(messages: Sequence[bytes], root: str, invt_nos: dict[str, str]) -> list[dict[str, Any]]:
    """The lists of ``root`` (``CEB621Message``, ``CEB603Message``) among ``messages`` whose guid is a key
    of ``invt_nos`` (guid → the invtNo customs gave it), as ``{"invt_no", "head", "lines"}``, in the order
    they were declared: what a return application is built from."""
    needle = root.encode()
    wanted = [m for m in messages if needle in m[:400]]
    if not wanted or not invt_nos:
        return []
    batch = decode_batch(wanted, check_codes=False)
    heads = batch.table(root, "InventoryHead").filter(pl.col("guid").is_in(list(invt_nos)))
    lines = batch.table(root, "InventoryList").join(heads.select("_msg", "_doc"), on=["_msg", "_doc"])
    by_doc: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in lines.sort("_msg", "_doc", "gnum").iter_rows(named=True):
        by_doc.setdefault((row["_msg"], row["_doc"]), []).append(row)
    return [
        {"invt_no": invt_nos[h["guid"]], "head": h, "lines": by_doc.get((h["_msg"], h["_doc"]), [])}
        for h in heads.sort("_msg", "_doc").iter_rows(named=True)
        if by_doc.get((h["_msg"], h["_doc"]))
    ]


def import_returns(
    released: Sequence[dict[str, Any]],
    at: datetime,
    *,
    seed: int = 1,
    faults: bool = True,
    at_least: int = 3,
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Return applications (CEB625, signed by the list's declaring agent) for released import lists drawn
    at ``IMPORT_RETURN_RATES`` — whole or one line partly — dated ``at``, inside the 30-day window; with
    ``faults`` the first one asks for more than was imported (−625903).  ``released`` is what
    :func:`declared_lists` gives for CEB621.  Returns the messages and a manifest (guid, invtNo, expected
    status 399 or 100 with the code)."""
    rng = random.Random(f"import-returns:{seed}:{at.isoformat()}")
    out: list[bytes] = []
    manifest: list[dict[str, Any]] = []
    planted = not faults
    for i, lst in enumerate(released):
        h, lines = lst["head"], lst["lines"]
        rate = IMPORT_RETURN_RATES.get(str(lines[0]["gcode"])[:2], IMPORT_DEFAULT_RATE)
        short = len(manifest) < at_least and len(released) - i <= 3 * (at_least - len(manifest))
        if not (rng.random() < rate or short):
            continue
        wanted = [(x, Decimal(str(x["qty"]))) for x in lines]
        fault, code = "", ""
        if not planted:
            planted, fault, code = True, "over_quantity", "-625903"
            wanted = [(lines[0], wanted[0][1] + 1)]
        elif wanted[0][1] >= 2 and rng.random() < PARTIAL_SHARE:
            wanted = [(lines[0], wanted[0][1] - 1)]  # one item of the line kept
        guid = _guid(rng)
        doc = {
            "guid": guid,
            "appType": "1",
            "appTime": at,
            "appStatus": "2",
            "customsCode": h["customsCode"],
            "orderNo": h["orderNo"],
            "ebpCode": h["ebpCode"],
            "ebpName": h["ebpName"],
            "ebcCode": h["ebcCode"],
            "ebcName": h["ebcName"],
            "logisticsNo": h["logisticsNo"],
            "logisticsCode": h["logisticsCode"],
            "logisticsName": h["logisticsName"],
            "copNo": None,
            "invtNo": lst["invt_no"],
            "buyerIdType": "1",
            "buyerIdNumber": h["buyerIdNumber"],
            "buyerName": h["buyerName"],
            "buyerTelephone": h["buyerTelephone"],
            "agentCode": h["agentCode"],
            "agentName": h["agentName"],
            "reason": "消费者申请退货 returned by the buyer",
        }
        rows = [
            {"gnum": x["gnum"], "gcode": x["gcode"], "gname": x["gname"], "qty": q, "unit": x["unit"]}
            for x, q in wanted
        ]
        transfer = {
            "copCode": h["agentCode"],
            "copName": h["agentName"],
            "dxpMode": "DXP",
            "dxpId": f"DXPENT{h['agentCode']}",
        }
        out.append(
            encode(
                "CEB625Message",
                [OutDocument(doc, rows)],
                transfer=transfer,
                signer=signer_for(str(h["agentCode"])),
            )
        )
        manifest.append(
            {
                "guid": guid,
                "invtNo": lst["invt_no"],
                "gcode": str(lines[0]["gcode"]),
                "fault": fault,
                "expected_status": 100 if code else 399,
                "expected_code": code,
            }
        )
    return out, manifest


@dataclass
class DayReturns:
    """The returns of a day already cleared in a store (see :func:`day_returns`)."""

    imports: list[bytes]
    import_manifest: list[dict[str, Any]]
    exports: SameDayReturns


def day_returns(
    conn: Connection, messages: Sequence[bytes], at: datetime, *, seed: int = 1, faults: bool = True
) -> DayReturns:
    """Import returns of the released import lists and export returns of the released or departed export
    lists among ``messages`` (a day cleared into the store of ``conn``), dated ``at``: the store says which
    lists were released and their numbers, the messages give what was declared."""
    imported = dict(
        conn.execute(
            select(document.c.guid, decision.c.invt_no)
            .join(decision, decision.c.list_key == document.c.business_key)
            .where(document.c.kind == "list", document.c.status == 800, decision.c.status == 800)
            .where(decision.c.invt_no.is_not(None))
        ).all()
    )
    exported = dict(
        conn.execute(
            select(export_list.c.guid, export_list.c.invt_no).where(
                export_list.c.status.in_(R.RETURNABLE_LIST_STATUSES)
            )
        ).all()
    )
    back, manifest = import_returns(
        declared_lists(messages, "CEB621Message", imported), at, seed=seed, faults=faults
    )
    out = same_day_returns(declared_lists(messages, "CEB603Message", exported), at, seed=seed, faults=faults)
    return DayReturns(back, manifest, out)


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
