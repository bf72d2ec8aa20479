"""A product catalogue for synthetic traffic, drawn from the package's HS table.

Each product is an HS code on the positive list with a made-up brand/model and a lognormal price whose median
depends on the category (a lipstick is not a watch).  Off-list goods are kept apart so the generator can plant
them at a known rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

# median unit price (CNY) and log-sd by category; anything unknown falls back to DEFAULT_PRICE
PRICE_BY_CATEGORY: dict[str, tuple[float, float]] = {
    "cosmetics": (220.0, 0.6),
    "skin_care": (260.0, 0.6),
    "perfume": (480.0, 0.5),
    "makeup": (180.0, 0.5),
    "hair_care": (90.0, 0.5),
    "infant_formula": (260.0, 0.3),
    "milk_powder": (160.0, 0.3),
    "supplements": (210.0, 0.5),
    "food": (80.0, 0.6),
    "apparel": (320.0, 0.7),
    "shoes": (650.0, 0.6),
    "bags": (1200.0, 0.9),
    "watches": (2600.0, 1.0),
    "electronics": (900.0, 0.8),
    "toys": (160.0, 0.7),
    "wine": (260.0, 0.7),
    "spirits": (450.0, 0.8),
    "beer": (60.0, 0.4),
    "jewellery": (1800.0, 0.9),
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

    def price(self, rng: random.Random) -> Decimal:
        median, sd = PRICE_BY_CATEGORY.get(self.category, DEFAULT_PRICE)
        value = math.exp(math.log(median) + rng.gauss(0.0, sd))
        return Decimal(str(round(max(value, 1.0), 2)))


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
                unit="011" if row["category"] in {"apparel", "shoes"} else "007",
                unit1=unit1,
                unit2=str(row["unit2"]) if row.get("unit2") else None,
                on_positive_list=bool(int(row["positive_list"])),
                net_weight_kg=weight,
                sku=f"{brand[:3].upper()}-{row['hs10'][-6:]}-{k:02d}",
            )
            (on if product.on_positive_list else off).append(product)
    return on, off
