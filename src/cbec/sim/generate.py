"""Synthetic CEB traffic: consistent order/payment/waybill/list sets for retail imports.

Each parcel gets an order (CEB311), a payment (CEB411), a waybill (CEB511) and a list (CEB621, signed), with
the amounts, parties and buyer agreeing across the four as the matching rules expect.  Parcels are packed 1 to
100 documents per message as the XSD allows.  The run is seeded: the same seed gives the same documents
(only signatures differ, since RSA-PKCS#1 v1.5 keys are generated per run).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from cbec.messages.encode import OutDocument, encode
from cbec.messages.signature import SigningIdentity, make_test_identity
from cbec.sim.catalogue import Product, build_catalogue
from cbec.sim.parties import (
    AGENTS,
    BONDED_ZONES,
    DIRECT_PORTS,
    ENTERPRISES,
    LOGISTICS,
    PAYMENT,
    PLATFORMS,
    Party,
)
from cbec.sim.people import Buyer, make_buyer

CENT = Decimal("0.01")
IMPORT_TYPES = ("CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message")


@dataclass
class GeneratorConfig:
    parcels: int = 1000
    seed: int = 1
    day: datetime = field(default_factory=lambda: datetime(2026, 11, 11, 0, 0, 0))
    docs_per_message: tuple[int, int] = (1, 100)
    bonded_share: float = 0.4  # share of 1210 parcels
    repeat_buyer_share: float = 0.6
    # planted faults: name -> share of parcels (see FAULTS); empty = clean traffic
    faults: dict[str, float] = field(default_factory=dict)


# fault -> (expected list status, expected code, rule) — the ground truth written to the manifest
FAULTS: dict[str, tuple[int, str | None, str | None]] = {
    "amount_mismatch": (100, "-621001", "M2"),
    "payer_not_buyer": (100, "-621001", "M5"),
    "bad_id": (100, "-621001", "V1"),
    "off_list": (100, "-621001", "V2"),
    "over_single_limit": (100, "-621005", "T"),
    "duplicate_list": (100, "-621004", "D"),
    "missing_payment": (2, None, None),
    "over_quota": (100, "-621018", "Q"),
}
DEFAULT_FAULTS = {
    "amount_mismatch": 0.01,
    "payer_not_buyer": 0.01,
    "bad_id": 0.005,
    "off_list": 0.005,
    "over_single_limit": 0.005,
    "duplicate_list": 0.005,
    "missing_payment": 0.005,
    "over_quota": 0.01,
}
ANNUAL_LIMIT = Decimal(26000)


@dataclass
class Planted:
    """Ground truth for one list: what was planted and what customs should answer."""

    list_key: str
    list_guid: str
    fault: str
    status: int
    code: str | None
    rule: str | None


@dataclass
class Parcel:
    """The four documents of one parcel, as records ready for the encoder."""

    order: OutDocument
    payment: OutDocument
    waybill: OutDocument
    inventory: OutDocument
    sender: dict[str, Party]
    fault: str = "clean"
    extra_lists: list[OutDocument] = field(default_factory=list)  # duplicates
    omit: frozenset[str] = frozenset()  # message types not sent (missing documents)


def _money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


class TrafficGenerator:
    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.products, self.off_list = build_catalogue(self.rng)
        self.buyers: list[Buyer] = []
        self._serial = 0
        self.manifest: list[Planted] = []
        self._whales: list[Buyer] = []
        self._whale_used: dict[str, Decimal] = {}

    def _buyer(self) -> Buyer:
        if self.buyers and self.rng.random() < self.config.repeat_buyer_share:
            return self.rng.choice(self.buyers)
        b = make_buyer(self.rng)
        self.buyers.append(b)
        return b

    def cast(self) -> dict[str, Party]:
        """The companies behind one batch: a message carries the documents of one sender."""
        rng = self.rng
        return {
            "platform": rng.choice(PLATFORMS),
            "ebc": rng.choice(ENTERPRISES),
            "pay": rng.choice(PAYMENT),
            "logistics": rng.choice(LOGISTICS),
            "agent": rng.choice(AGENTS),
        }

    def parcel(self, cast: dict[str, Party] | None = None) -> Parcel:
        rng = self.rng
        cast = cast or self.cast()
        self._serial += 1
        n = self._serial
        when = self.config.day + timedelta(seconds=rng.uniform(0, 86_399))
        platform, ebc, pay = cast["platform"], cast["ebc"], cast["pay"]
        logi, agent = cast["logistics"], cast["agent"]
        fault = self._pick_fault()
        buyer = self._whale() if fault == "over_quota" else self._buyer()
        bonded = rng.random() < self.config.bonded_share
        items: list[tuple[Product, Decimal, Decimal]] = []
        for _ in range(rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5))[0]):
            product = rng.choice(self.products)
            qty = Decimal(rng.choices((1, 2, 3, 6), weights=(70, 20, 7, 3))[0])
            items.append((product, qty, product.price(rng)))
        items = self._shape_basket(items, fault)
        order_no = f"{platform.code[:4]}{when:%Y%m%d}{n:08d}"
        logistics_no = f"{logi.code[-3:]}{when:%y%m%d}{n:09d}"
        goods_value = sum((_money(q * p) for _, q, p in items), Decimal(0))
        freight = Decimal(rng.choice((0, 0, 8, 10, 12, 15)))
        tax_total = _money(goods_value * Decimal("0.091"))
        paid = goods_value + freight + tax_total
        app_time = when
        order_lines = []
        inv_lines = []
        net_weight = Decimal(0)
        for g, (product, qty, price) in enumerate(items, start=1):
            total = _money(qty * price)
            weight = product.net_weight_kg * qty
            net_weight += weight
            order_lines.append(
                {
                    "gnum": g,
                    "itemNo": product.sku,
                    "itemName": product.name,
                    "gmodel": f"{product.sku} 规格",
                    "unit": product.unit,
                    "qty": qty,
                    "price": price,
                    "totalPrice": total,
                    "currency": "142",
                    "country": "116" if g % 2 else "502",
                }
            )
            qty1 = weight if product.unit1 == "035" else qty
            line: dict[str, Any] = {
                "gnum": g,
                "itemNo": product.sku,
                "itemName": product.name,
                "gcode": product.hs10,
                "gname": product.name,
                "gmodel": f"{product.sku} 规格",
                "country": "116" if g % 2 else "502",
                "currency": "142",
                "qty": qty,
                "unit": product.unit,
                "qty1": qty1,
                "unit1": product.unit1,
                "price": price,
                "totalPrice": total,
            }
            if product.unit2:
                line["qty2"] = weight if product.unit2 == "035" else qty
                line["unit2"] = product.unit2
            if bonded:
                line["itemRecordNo"] = f"R{product.hs10}{g:02d}"
            inv_lines.append(line)
        order = {
            "guid": _guid(rng),
            "appType": "1",
            "appTime": app_time,
            "appStatus": "2",
            "orderType": "I",
            "orderNo": order_no,
            "ebpCode": platform.code,
            "ebpName": platform.name,
            "ebcCode": ebc.code,
            "ebcName": ebc.name,
            "goodsValue": goods_value,
            "freight": freight,
            "discount": Decimal(0),
            "taxTotal": tax_total,
            "acturalPaid": paid,
            "currency": "142",
            "buyerRegNo": f"U{n:09d}",
            "buyerName": buyer.name,
            "buyerTelephone": buyer.phone,
            "buyerIdType": "1",
            "buyerIdNumber": buyer.id_number,
            "payCode": pay.code,
            "payName": pay.name,
            "payTransactionId": f"P{when:%Y%m%d%H%M%S}{n:08d}",
            "consignee": buyer.name,
            "consigneeTelephone": buyer.phone,
            "consigneeAddress": buyer.address,
            "consigneeDistrict": buyer.district,
        }
        payment = {
            "guid": _guid(rng),
            "appType": "1",
            "appTime": app_time + timedelta(seconds=5),
            "appStatus": "2",
            "payCode": pay.code,
            "payName": pay.name,
            "payTransactionId": order["payTransactionId"],
            "orderNo": order_no,
            "ebpCode": platform.code,
            "ebpName": platform.name,
            "payerIdType": "1",
            "payerIdNumber": buyer.id_number,
            "payerName": buyer.name,
            "telephone": buyer.phone,
            "amountPaid": paid,
            "currency": "142",
            "payTime": app_time,
        }
        gross = _money(net_weight * Decimal("1.15") + Decimal("0.1"))
        waybill = {
            "guid": _guid(rng),
            "appType": "1",
            "appTime": app_time + timedelta(minutes=20),
            "appStatus": "2",
            "logisticsCode": logi.code,
            "logisticsName": logi.name,
            "logisticsNo": logistics_no,
            "orderNo": order_no,
            "freight": freight,
            "insuredFee": Decimal(0),
            "currency": "142",
            "weight": gross,
            "packNo": 1,
            "goodsInfo": items[0][0].name[:200],
            "consignee": buyer.name,
            "consigneeAddress": buyer.address,
            "consigneeTelephone": buyer.phone,
        }
        if bonded:
            customs, port, _zone_ent, zone_name, ems = rng.choice(BONDED_ZONES)
        else:
            customs, port = rng.choice(DIRECT_PORTS)
        inventory: dict[str, Any] = {
            "guid": _guid(rng),
            "appType": "1",
            "appTime": app_time + timedelta(minutes=30),
            "appStatus": "2",
            "orderNo": order_no,
            "ebpCode": platform.code,
            "ebpName": platform.name,
            "ebcCode": ebc.code,
            "ebcName": ebc.name,
            "logisticsNo": logistics_no,
            "logisticsCode": logi.code,
            "logisticsName": logi.name,
            "copNo": f"C{n:012d}",
            "assureCode": ebc.code,
            "ieFlag": "I",
            "declTime": app_time.date(),
            "customsCode": customs,
            "portCode": port,
            "buyerIdType": "1",
            "buyerIdNumber": buyer.id_number,
            "buyerName": buyer.name,
            "buyerTelephone": buyer.phone,
            "consigneeAddress": buyer.address,
            "agentCode": agent.code,
            "agentName": agent.name,
            "tradeMode": "1210" if bonded else "9610",
            "trafMode": "4" if bonded else "5",
            "country": "116",
            "freight": freight,
            "insuredFee": Decimal(0),
            "currency": "142",
            "packNo": 1,
            "grossWeight": gross,
            "netWeight": _money(net_weight) or CENT,
        }
        if bonded:
            inventory.update({"emsNo": ems, "areaCode": _zone_ent, "areaName": zone_name})
        parcel = Parcel(
            order=OutDocument(order, order_lines),
            payment=OutDocument(payment),
            waybill=OutDocument(waybill),
            inventory=OutDocument(inventory, inv_lines),
            fault=fault,
            sender={
                "CEB311Message": platform,
                "CEB411Message": pay,
                "CEB511Message": logi,
                "CEB621Message": agent,
            },
        )
        self._plant(parcel, buyer, goods_value + freight)
        return parcel

    # --- faults --------------------------------------------------------------------------------------------
    def _pick_fault(self) -> str:
        r = self.rng.random()
        for name, share in self.config.faults.items():
            if r < share:
                return name
            r -= share
        return "clean"

    def _whale(self) -> Buyer:
        """Heavy buyers who will run through their annual quota within the day."""
        if len(self._whales) < 3 or self.rng.random() < 0.1:
            self._whales.append(make_buyer(self.rng))
        return self.rng.choice(self._whales)

    def _shape_basket(
        self, items: list[tuple[Product, Decimal, Decimal]], fault: str
    ) -> list[tuple[Product, Decimal, Decimal]]:
        rng = self.rng
        if fault == "over_single_limit":
            # several items together over CNY 5,000
            product = rng.choice(self.products)
            return [
                (product, Decimal(2), Decimal("1800.00")),
                (rng.choice(self.products), Decimal(1), Decimal("1600.00")),
            ]
        if fault == "over_quota":
            # one item just under the single limit, so only the annual quota can refuse it
            product = rng.choice(self.products)
            return [(product, Decimal(1), Decimal(str(rng.randint(4200, 4850))))]
        if fault in {
            "clean",
            "amount_mismatch",
            "payer_not_buyer",
            "bad_id",
            "duplicate_list",
            "missing_payment",
        }:
            # ordinary shoppers stay within the single-transaction limit (one pricey item alone may exceed it:
            # that is the lawful full-rate case); the limit itself is tested by the planted faults
            while len(items) > 1 and sum((q * p for _, q, p in items), Decimal(0)) > Decimal(4900):
                items = items[:-1]
            if len(items) == 1 and items[0][1] > 1 and items[0][1] * items[0][2] > Decimal(4900):
                items = [(items[0][0], Decimal(1), items[0][2])]
        if fault == "off_list" and self.off_list:
            items = list(items)
            product = rng.choice(self.off_list)
            items[0] = (product, Decimal(1), product.price(rng))
        return items

    def _plant(self, parcel: Parcel, buyer: Buyer, dutiable: Decimal) -> None:
        fault = parcel.fault
        inv, order, pay = parcel.inventory.head, parcel.order.head, parcel.payment.head
        key = f"{inv['ebpCode']}|{inv['orderNo']}"
        if fault == "amount_mismatch":
            assert isinstance(pay, dict)
            pay["amountPaid"] = pay["amountPaid"] + Decimal("1.00")
        elif fault == "payer_not_buyer":
            other = make_buyer(self.rng)
            assert isinstance(pay, dict)
            pay["payerName"], pay["payerIdNumber"] = other.name, other.id_number
        elif fault == "bad_id":
            good = str(inv["buyerIdNumber"])
            wrong = good[:17] + ("0" if good[17] != "0" else "1")
            for head in (inv, order, pay):
                assert isinstance(head, dict)
                head["buyerIdNumber" if "buyerIdNumber" in head else "payerIdNumber"] = wrong
        elif fault == "duplicate_list":
            twin = dict(inv)
            twin["guid"] = _guid(self.rng)
            parcel.extra_lists.append(OutDocument(twin, parcel.inventory.lines))
            self.manifest.append(Planted(key, str(twin["guid"]), fault, *FAULTS[fault]))
            fault = "clean"  # the first of the pair is an ordinary list
        elif fault == "missing_payment":
            parcel.omit = frozenset({"CEB411Message"})
        if fault in {"clean", "over_quota"}:
            # every list that should clear counts against its buyer's annual quota, so an ordinary frequent
            # buyer can run out too: the manifest says so rather than expecting a release
            used = self._whale_used.get(buyer.id_number, Decimal(0))
            if used + dutiable > ANNUAL_LIMIT:
                self.manifest.append(Planted(key, str(inv["guid"]), "over_quota", *FAULTS["over_quota"]))
            else:
                self._whale_used[buyer.id_number] = used + dutiable
                label = "quota_within" if fault == "over_quota" else "clean"
                self.manifest.append(Planted(key, str(inv["guid"]), label, 800, None, None))
            return
        else:
            self.manifest.append(Planted(key, str(inv["guid"]), fault, *FAULTS[fault]))

    def messages(self, identity: SigningIdentity | None = None) -> Iterator[tuple[str, bytes]]:
        """Yield (message type, XML bytes), packing parcels into messages of 1..100 documents."""
        identity = identity or make_test_identity("cbec generator")
        low, high = self.config.docs_per_message
        left = self.config.parcels
        while left > 0:
            size = min(left, self.rng.randint(low, high))
            cast = self.cast()
            yield from self._pack([self.parcel(cast) for _ in range(size)], identity)
            left -= size

    def _pack(self, parcels: list[Parcel], identity: SigningIdentity) -> Iterator[tuple[str, bytes]]:
        getters: dict[str, Callable[[Parcel], OutDocument]] = {
            "CEB311Message": lambda p: p.order,
            "CEB411Message": lambda p: p.payment,
            "CEB511Message": lambda p: p.waybill,
            "CEB621Message": lambda p: p.inventory,
        }
        order = list(getters)
        if self.rng.random() < 0.1:  # some batches arrive out of order: the lists first
            order = order[::-1]
        for mtype in order:
            get = getters[mtype]
            sender = parcels[0].sender[mtype]
            docs = [get(p) for p in parcels if mtype not in p.omit]
            if mtype == "CEB621Message":
                docs += [twin for p in parcels for twin in p.extra_lists]
            if not docs:
                continue
            transfer = {
                "copCode": sender.code,
                "copName": sender.name,
                "dxpMode": "DXP",
                "dxpId": sender.dxp_id,
            }
            for chunk in range(0, len(docs), 100):
                yield (
                    mtype,
                    encode(
                        mtype,
                        docs[chunk : chunk + 100],
                        transfer=transfer,
                        guid=_guid(self.rng),
                        signer=identity if mtype == "CEB621Message" else None,
                    ),
                )


def write_corpus(
    out: Path, config: GeneratorConfig, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write messages as ``out/<type>/<n>.xml``; returns counts of files per type."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    gen = TrafficGenerator(config)
    done = 0
    for mtype, data in gen.messages():
        folder = out / mtype
        folder.mkdir(exist_ok=True)
        k = counts.get(mtype, 0)
        (folder / f"{k:07d}.xml").write_bytes(data)
        counts[mtype] = k + 1
        if progress and gen._serial > done:
            progress(gen._serial - done)
            done = gen._serial
    write_manifest(out / "manifest.csv", gen.manifest)
    return counts


def write_manifest(path: Path, planted: list[Planted]) -> None:
    """The ground truth of a generated corpus: one row per list, with the answer customs should give."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["list_key", "list_guid", "fault", "expected_status", "expected_code", "rule"])
        for p in planted:
            w.writerow([p.list_key, p.list_guid, p.fault, p.status, p.code or "", p.rule or ""])
