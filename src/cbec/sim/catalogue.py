"""A product catalogue for synthetic traffic, drawn from the package's HS table.

Each product is an HS code on the positive list with a made-up brand/model and a lognormal price whose median
depends on the category (a lipstick is not a watch).  Off-list goods are kept apart so the generator can plant
them at a known rate.  The generator reads the catalogue as columns (:func:`catalogue_frame`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

# median unit price (CNY) and log-sd by category; anything unknown falls back to DEFAULT_PRICE
PRICE_BY_CATEGORY: dict[str, tuple[float, float]] = {
    "skin_care": (260.0, 0.6),
    "makeup": (180.0, 0.5),
    "perfume": (480.0, 0.5),
    "hair_care": (90.0, 0.5),
    "toiletries": (70.0, 0.5),
    "oral_care": (60.0, 0.5),
    "infant_formula": (260.0, 0.3),
    "baby_food": (90.0, 0.4),
    "baby_care": (120.0, 0.5),
    "dairy": (90.0, 0.4),
    "supplements": (210.0, 0.5),
    "vitamins": (160.0, 0.5),
    "honey_bee": (180.0, 0.5),
    "snacks": (60.0, 0.6),
    "chocolate_confectionery": (80.0, 0.5),
    "coffee_tea": (110.0, 0.6),
    "beverages": (50.0, 0.5),
    "grocery": (70.0, 0.6),
    "apparel_knit": (260.0, 0.7),
    "apparel_woven": (380.0, 0.7),
    "apparel_baby": (160.0, 0.5),
    "hosiery_underwear": (120.0, 0.6),
    "footwear": (650.0, 0.6),
    "bags": (1200.0, 0.9),
    "accessories": (300.0, 0.8),
    "watches": (2600.0, 1.0),
    "jewellery": (1800.0, 0.9),
    "phones": (2800.0, 0.5),
    "computers": (3200.0, 0.5),
    "cameras": (2400.0, 0.6),
    "audio": (900.0, 0.7),
    "game_consoles": (1500.0, 0.5),
    "small_appliances": (700.0, 0.6),
    "personal_care_appliances": (900.0, 0.6),
    "kitchenware": (260.0, 0.6),
    "home_textiles": (300.0, 0.6),
    "toys": (160.0, 0.7),
    "sports": (450.0, 0.7),
    "books": (90.0, 0.5),
    "pet_food": (180.0, 0.5),
    "wine": (260.0, 0.7),
    "spirits": (450.0, 0.8),
    "beer": (60.0, 0.4),
    "other_alcohol": (150.0, 0.6),
}
DEFAULT_PRICE = (150.0, 0.7)
BRANDS = (
    "Aurora",
    "Belmont",
    "Cascade",
    "Delphine",
    "Evergreen",
    "Fjord",
    "Gala",
    "Harbor",
    "Iris",
    "Juniper",
)


@dataclass(frozen=True)
class Product:
    hs10: str
    name: str
    category: str
    unit: str  # unit of the declared quantity (customs code)
    unit1: str  # first legal unit
    unit2: str | None
    on_positive_list: bool
    net_weight_kg: Decimal
    sku: str


def build_catalogue(rng: random.Random, per_code: int = 2) -> tuple[list[Product], list[Product]]:
    """(positive-list products, off-list products) from the compiled HS table."""
    from cbec.params.hs import load_cbec_hs

    frame = load_cbec_hs().frame()
    on: list[Product] = []
    off: list[Product] = []
    for row in frame.iter_rows(named=True):
        for k in range(per_code):
            brand = rng.choice(BRANDS)
            unit1 = str(row["unit1"])
            weight = Decimal(str(round(rng.uniform(0.05, 1.5), 3)))
            product = Product(
                hs10=str(row["hs10"]),
                name=f"{brand} {row['name_zh']}",
                category=str(row["category"]),
                unit="011" if str(row["category"]).startswith(("apparel", "footwear", "hosiery")) else "007",
                unit1=unit1,
                unit2=str(row["unit2"]) if row.get("unit2") else None,
                on_positive_list=bool(int(row["positive_list"])),
                net_weight_kg=weight,
                sku=f"{brand[:3].upper()}-{row['hs10'][-6:]}-{k:02d}",
            )
            (on if product.on_positive_list else off).append(product)
    return on, off


def catalogue_frame(products: list[Product]) -> pl.DataFrame:
    """The products as columns, row ``i`` = ``products[i]``: codes, names, units, the net weight in grams and
    the lognormal price parameters (``mu`` = log of the category's median price, ``sd``)."""
    prices = [PRICE_BY_CATEGORY.get(p.category, DEFAULT_PRICE) for p in products]
    return pl.DataFrame(
        {
            "product": list(range(len(products))),
            "hs10": [p.hs10 for p in products],
            "name": [p.name for p in products],
            "unit": [p.unit for p in products],
            "unit1": [p.unit1 for p in products],
            "unit2": [p.unit2 for p in products],
            "on_list": [p.on_positive_list for p in products],
            "weight_g": [int(p.net_weight_kg * 1000) for p in products],
            "sku": [p.sku for p in products],
            "mu": [math.log(median) for median, _ in prices],
            "sd": [sd for _, sd in prices],
        },
        schema_overrides={"product": pl.Int64, "unit2": pl.String, "weight_g": pl.Int64},
    )
