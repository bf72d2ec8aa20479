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


@dataclass
class Parcel:
    """The four documents of one parcel, as records ready for the encoder."""

    order: OutDocument
    payment: OutDocument
    waybill: OutDocument
    inventory: OutDocument
    sender: dict[str, Party]


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
        buyer = self._buyer()
        bonded = rng.random() < self.config.bonded_share
        items: list[tuple[Product, Decimal, Decimal]] = []
        for _ in range(rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5))[0]):
            product = rng.choice(self.products)
            qty = Decimal(rng.choices((1, 2, 3, 6), weights=(70, 20, 7, 3))[0])
            items.append((product, qty, product.price(rng)))
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
        return Parcel(
            order=OutDocument(order, order_lines),
            payment=OutDocument(payment),
            waybill=OutDocument(waybill),
            inventory=OutDocument(inventory, inv_lines),
            sender={
                "CEB311Message": platform,
                "CEB411Message": pay,
                "CEB511Message": logi,
                "CEB621Message": agent,
            },
        )

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
        for mtype, get in getters.items():
            sender = parcels[0].sender[mtype]
            transfer = {
                "copCode": sender.code,
                "copName": sender.name,
                "dxpMode": "DXP",
                "dxpId": sender.dxp_id,
            }
            yield (
                mtype,
                encode(
                    mtype,
                    [get(p) for p in parcels],
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
        if progress and mtype == "CEB621Message":
            new_done = gen._serial
            progress(new_done - done)
            done = new_done
    return counts
