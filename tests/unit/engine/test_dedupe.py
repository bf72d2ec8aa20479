"""Repeats and duplicate declarations within a batch and against the store (the step's first rule)."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from cbec.engine.normalize import empty_documents
from cbec.engine.step import _dedupe


def _orders(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "guid": [r[0] for r in rows],
            "order_key": [r[1] for r in rows],
            "seq": [r[2] for r in rows],
            "sender": ["S"] * len(rows),
        },
        schema={"guid": pl.String, "order_key": pl.String, "seq": pl.Int64, "sender": pl.String},
    )


def _run(rows: list[tuple[str, str, int]], known: set[str] | None = None) -> tuple[list[str], list[str]]:
    docs = replace(empty_documents(), orders=_orders(rows))
    kept, receipts = _dedupe(docs, {"orders": known or set()})
    return kept.orders["guid"].to_list(), receipts.filter(pl.col("code") == "-301010")["guid"].to_list()


def test_repeats_are_dropped_and_later_duplicates_refused_in_arrival_order() -> None:
    # g2 repeats g1's document; g3 declares g1's order number again; arrival order is seq, not row order
    kept, refused = _run([("g3", "k1", 3), ("g1", "k1", 1), ("g1", "k1", 2), ("g4", "k2", 4)])
    assert kept == ["g1", "g4"]
    assert refused == ["g3"]


def test_a_repeated_guid_with_another_key_does_not_claim_that_key() -> None:
    # the repeat of g1 (same guid, other key) is dropped; g2 is then the first to declare k2
    kept, refused = _run([("g1", "k1", 1), ("g1", "k2", 2), ("g2", "k2", 3)])
    assert kept == ["g1", "g2"]
    assert refused == []


def test_keys_already_stored_are_refused() -> None:
    kept, refused = _run([("g1", "k1", 1), ("g2", "k2", 2)], known={"k2"})
    assert kept == ["g1"]
    assert refused == ["g2"]


def test_nothing_to_drop_keeps_the_frame() -> None:
    kept, refused = _run([("g1", "k1", 1), ("g2", "k2", 2)])
    assert kept == ["g1", "g2"] and refused == []
