"""The quota ledger counts each movement once and loses no update when two processes write at once."""

from __future__ import annotations

import multiprocessing
import random

import polars as pl
import pytest
from _store_testlib import buyer
from sqlalchemy import Engine, func, select

from cbec.store import connect, quota
from cbec.store.quota import QuotaMovement
from cbec.store.schema import quota as quota_table
from cbec.store.schema import quota_movement


def _accept(buyer_key: str, list_no: int, fen: int, year: int = 2026) -> QuotaMovement:
    return QuotaMovement(
        buyer_key=buyer_key, year=year, list_key=f"L|{list_no}", kind="accept", amount_fen=fen
    )


def test_apply_is_idempotent_and_sums(engine: Engine) -> None:
    alice, bob = buyer(1), buyer(2)
    moves = [_accept(alice, 1, 10_000), _accept(alice, 2, 250_050), _accept(bob, 3, 1)]
    with engine.begin() as conn:
        assert quota.apply(conn, moves) == 3
    with engine.begin() as conn:
        assert quota.apply(conn, moves) == 0  # the same movements again: no effect
        assert quota.apply(conn, [moves[0], moves[0]]) == 0
    cancel = QuotaMovement(alice, 2026, "L|2", "cancel", -250_050)
    with engine.begin() as conn:
        assert quota.apply(conn, [cancel, cancel, _accept(alice, 4, 5)]) == 2  # repeated inside one call
        assert quota.apply(conn, [_accept(alice, 9, 7, year=2025)]) == 1
    with engine.connect() as conn:
        assert quota.used(conn, [alice, bob, buyer(3)], 2026) == {alice: 10_005, bob: 1, buyer(3): 0}
        assert quota.used(conn, [alice], 2025) == {alice: 7}
        ledger = conn.execute(
            select(func.sum(quota_movement.c.amount_fen)).where(
                quota_movement.c.buyer_key == alice, quota_movement.c.year == 2026
            )
        ).scalar_one()
    assert ledger == 10_005


def test_apply_refuses_what_must_not_be_stored(engine: Engine) -> None:
    with pytest.raises(ValueError, match="never the ID number"), engine.begin() as conn:
        quota.apply(conn, [_accept("110105194912310021", 1, 100)])
    with pytest.raises(ValueError, match="wrong sign"), engine.begin() as conn:
        quota.apply(conn, [QuotaMovement(buyer(1), 2026, "L|1", "return", 100)])
    with pytest.raises(ValueError, match="kind"), engine.begin() as conn:
        quota.apply(conn, [QuotaMovement(buyer(1), 2026, "L|1", "refund", -100)])


def _apply_many(url: str, first: int, count: int, fen: int) -> int:
    """Run in a separate process: its own engine, one transaction per movement (worst case for races)."""
    engine = connect(url, create=False)
    applied = 0
    try:
        for n in range(first, first + count):
            with engine.begin() as conn:
                applied += quota.apply(conn, [_accept(buyer(7), n, fen)])
    finally:
        engine.dispose()
    return applied


def test_two_processes_same_buyer_no_lost_update(engine: Engine, db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        applied = pool.starmap(_apply_many, [(db_url, 0, 500, 3), (db_url, 500, 500, 5)])
    assert applied == [500, 500]
    with engine.connect() as conn:
        assert quota.used(conn, [buyer(7)], 2026)[buyer(7)] == 500 * 3 + 500 * 5


def test_two_processes_same_movements_count_once(engine: Engine, db_url: str) -> None:
    """Both processes apply overlapping lists: every list is counted once, by exactly one of them."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        applied = pool.starmap(_apply_many, [(db_url, 0, 500, 4), (db_url, 250, 500, 4)])
    assert sum(applied) == 750
    with engine.connect() as conn:
        assert quota.used(conn, [buyer(7)], 2026)[buyer(7)] == 750 * 4


def _frame(moves: list[QuotaMovement]) -> pl.DataFrame:
    return pl.DataFrame(
        [(m.buyer_key, m.year, m.list_key, m.kind, m.amount_fen) for m in moves],
        schema={
            "buyer_key": pl.String(),
            "year": pl.Int64(),
            "list_key": pl.String(),
            "kind": pl.String(),
            "amount_fen": pl.Int64(),
        },
        orient="row",
    )


def test_apply_frame_counts_what_apply_counts_and_totals_equal_the_ledger(engine: Engine) -> None:
    """The hot path (a frame; on SQLite the new movements are read back and summed in Polars) against the
    row path: the same counts, and every buyer-year's total equal to the sum of its movements, with
    movements repeated inside a frame, repeated from an earlier frame, cancels, and two years."""
    rng = random.Random(7)
    buyers = [buyer(i) for i in range(1, 9)]
    stored: set[tuple[str, str]] = set()
    for round_ in range(6):
        moves: list[QuotaMovement] = []
        for _ in range(40):
            key = f"L|{rng.randrange(120)}"
            who = buyers[int(key[2:]) % len(buyers)]  # a list always belongs to the same buyer
            year = 2025 + int(key[2:]) // len(buyers) % 2
            fen = 100 + int(key[2:]) * 37
            moves.append(
                QuotaMovement(who, year, key, "accept", fen)
                if rng.random() < 0.8
                else QuotaMovement(who, year, key, "cancel", -fen)
            )
        expected = len({(m.list_key, m.kind) for m in moves} - stored)
        with engine.begin() as conn:
            assert quota.apply_frame(conn, _frame(moves)) == expected, round_
        stored |= {(m.list_key, m.kind) for m in moves}
    with engine.connect() as conn:
        ledger = {
            (r.buyer_key, r.year): int(r.fen)
            for r in conn.execute(
                select(
                    quota_movement.c.buyer_key,
                    quota_movement.c.year,
                    func.sum(quota_movement.c.amount_fen).label("fen"),
                ).group_by(quota_movement.c.buyer_key, quota_movement.c.year)
            )
        }
        totals = {(r.buyer_key, r.year): int(r.used_fen) for r in conn.execute(select(quota_table))}
    assert len(ledger) > 8 and totals == ledger
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quota_movement)).scalar_one() == len(stored)
