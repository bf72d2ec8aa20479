"""Seeded random columns: same seed, same columns; the values have the ranges and shapes they promise."""

from __future__ import annotations

import uuid

import polars as pl

from cbec.rules.resident_id import is_valid
from cbec.sim.draws import Draws
from cbec.sim.people import buyers


def test_same_seed_same_columns() -> None:
    a, b = Draws("s/1"), Draws("s/1")
    assert a.uniform(1000).to_list() == b.uniform(1000).to_list()
    assert a.guids(50).to_list() == b.guids(50).to_list()
    assert Draws("s/2").uniform(10).to_list() != Draws("s/1").uniform(10).to_list()


def test_ranges_and_shapes() -> None:
    d = Draws(7)
    u = d.uniform(50_000)
    assert u.min() >= 0.0 and u.max() < 1.0  # type: ignore[operator]
    assert abs(u.mean() - 0.5) < 0.01  # type: ignore[operator]
    ints = d.integers(50_000, 3, 6)
    assert set(ints.unique().to_list()) == {3, 4, 5, 6}
    w = d.weighted(100_000, (60, 25, 10, 5))
    shares = w.value_counts(normalize=True).sort("i")["proportion"].to_list()
    assert all(abs(s - e) < 0.01 for s, e in zip(shares, (0.60, 0.25, 0.10, 0.05), strict=True))
    z = d.normal(100_000)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02  # type: ignore[arg-type, operator]
    assert set(d.pick("ab", 100).to_list()) == {"a", "b"}
    assert d.uniform(0).len() == 0 and d.guids(0).len() == 0


def test_guids_are_version_4_upper_case() -> None:
    for g in Draws(3).guids(500).to_list():
        parsed = uuid.UUID(g)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert g == str(parsed).upper() and len(g) == 36


def test_buyers_have_valid_resident_ids() -> None:
    people = buyers(Draws(11), 5000)
    assert people.columns == ["name", "id_number", "phone", "district", "address"]
    assert all(is_valid(x) for x in people["id_number"])
    assert people["phone"].str.contains(r"^1[3-9]\d{9}$").all()
    assert people["name"].str.len_chars().is_in([2, 3]).all()
    assert (people["id_number"].str.slice(0, 6) == people["district"]).all()
    assert people.select(pl.col("address").str.ends_with("室").all()).item()
