"""Bonded e-ledgers (账册) with the real clearing engine: write-offs, holds and their release, officers,
returns, rebuild and replay, stocktake reconciliation.  SQLite, and PostgreSQL when configured.

The corpus is the generator's (40 % of parcels are 1210, spread over two zones).  The ledgers are filed with
exactly the stock the corpus's 1210 lists need, except one planted shortage: the item with the most lists is
stocked for fewer, so some of its lists are held at 399 until a first-line entry replenishes it.  With
``second=True`` the items whose lines carry a second legal unit are filed with it and stocked with exactly
the second quantity the lists need, except the one with the most lists, short on its second quantity only.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _aftercare_testlib import World, answers, assert_receipts_valid, hs_frame, return_message
from openpyxl import load_workbook
from sqlalchemy import func, select

from cbec.engine import ledger as E
from cbec.engine.clear import Clearer, iter_inputs
from cbec.engine.review import record_result
from cbec.messages.columns import decode_batch
from cbec.params import ParameterSet
from cbec.params.dated import default_parameters
from cbec.rights import Role
from cbec.rules import ledger as R
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.sim.parties import BONDED_ZONES
from cbec.store import connect, enterprises, rebuild, reset
from cbec.store import ledgers as repo
from cbec.store.schema import decision, document, ledger_hold, ledger_movement

CLEARED_AT = datetime(2026, 11, 12, 1, 0, 0)
LATER = datetime(2026, 11, 13, 2, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bonded") / "in"
    write_corpus(out, GeneratorConfig(parcels=80, seed=11))
    return out


def demand_of(corpus: Path) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(emsNo, item) -> [(orderNo, legal qty units)] of the corpus's 1210 lists, in file order."""
    batch = decode_batch([b for _, b in iter_inputs(corpus)])
    heads = batch.table("CEB621Message", "InventoryHead").filter(pl.col("tradeMode") == "1210")
    lines = batch.table("CEB621Message", "InventoryList").join(
        heads.select("_msg", "_doc", "emsNo", "orderNo"), on=["_msg", "_doc"]
    )
    out: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for r in lines.iter_rows(named=True):
        out[(r["emsNo"], r["itemRecordNo"])].append((r["orderNo"], R.to_units(Decimal(str(r["qty1"])))))
    return out


def second_demand(corpus: Path) -> dict[tuple[str, str], tuple[str, list[tuple[str, int]]]]:
    """(emsNo, item) -> (unit2, [(orderNo, qty2 units)]) of the corpus's 1210 lines with a second unit."""
    batch = decode_batch([b for _, b in iter_inputs(corpus)])
    heads = batch.table("CEB621Message", "InventoryHead").filter(pl.col("tradeMode") == "1210")
    lines = (
        batch.table("CEB621Message", "InventoryList")
        .join(heads.select("_msg", "_doc", "emsNo", "orderNo"), on=["_msg", "_doc"])
        .filter(pl.col("unit2").is_not_null())
    )
    out: dict[tuple[str, str], tuple[str, list[tuple[str, int]]]] = {}
    for r in lines.iter_rows(named=True):
        _unit2, wants = out.setdefault((r["emsNo"], r["itemRecordNo"]), (r["unit2"], []))
        wants.append((r["orderNo"], R.to_units(Decimal(str(r["qty2"])))))
    return out


def item_specs(corpus: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    batch = decode_batch([b for _, b in iter_inputs(corpus)])
    lines = batch.table("CEB621Message", "InventoryList").filter(pl.col("itemRecordNo").is_not_null())
    return {
        r["itemRecordNo"]: (r["gcode"], r["unit1"], r["gname"])  # type: ignore[misc]
        for r in lines.iter_rows(named=True)
    }  # type: ignore[return-value]


class Bonded:
    """A store with both zones' ledgers filed and stocked, and the corpus cleared."""

    def __init__(
        self,
        url: str,
        root: Path,
        corpus: Path,
        params: ParameterSet,
        *,
        shortage: bool = True,
        second: bool = False,
    ):
        self.engine = connect(url)
        reset(self.engine)
        self.root, self.corpus, self.params = root, corpus, params
        self.demand = demand_of(corpus)
        self.demand2 = second_demand(corpus) if second else {}
        specs = item_specs(corpus)
        busiest = max(self.demand, key=lambda k: (len(self.demand[k]), k))
        self.short_item = busiest
        self.short2_item = max(self.demand2, key=lambda k: (len(self.demand2[k][1]), k)) if second else None
        self.stock: dict[tuple[str, str], int] = {}
        self.stock2: dict[tuple[str, str], int] = {}
        with self.engine.begin() as conn:
            for customs, _port, zone, name, ems in BONDED_ZONES:
                enterprises.register_enterprise(conn, code=zone, name=name, roles=[Role.OPERATOR])
                E.file_ledger(conn, ems_no=ems, area_code=zone, customs_code=customs, filed_by="test")
            for (ems, item), wants in sorted(self.demand.items()):
                total = sum(q for _, q in wants)
                if shortage and (ems, item) == busiest:
                    total -= wants[-1][1]  # enough for all but the last one
                self.stock[(ems, item)] = total
                gcode, unit1, gname = specs[item]
                unit2, wants2 = self.demand2.get((ems, item), (None, []))
                total2 = sum(q for _, q in wants2)
                if (ems, item) == self.short2_item:
                    total2 -= wants2[-1][1]  # its second quantity, for all but the last one
                if unit2 is not None:
                    self.stock2[(ems, item)] = total2
                line = E.Line(
                    item,
                    Decimal(total) / R.SCALE,
                    Decimal(total2) / R.SCALE,
                    gcode=gcode,
                    unit1=unit1,
                    unit2=unit2,
                    name=gname,
                )
                E.entry(conn, ems, f"ENTRY-{ems}-{item}", [line], actor="test", at=LATER - timedelta(days=3))

    def clearer(self, now: datetime) -> Clearer:
        return Clearer(self.engine, params=self.params, hs=hs_frame(), outbox=self.root / "outbox", now=now)

    def clear(self) -> None:
        self.clearer(CLEARED_AT).clear_batch(list(iter_inputs(self.corpus)))

    def balances(self) -> dict[tuple[str, str], int]:
        with self.engine.connect() as conn:
            frame = repo.balances_frame(conn, [z[4] for z in BONDED_ZONES])
        return {(e, i): b for e, i, _u, b, _u2, _b2 in frame.iter_rows()}

    def balances2(self) -> dict[tuple[str, str], int]:
        """The second legal quantity of the items filed with a second unit."""
        with self.engine.connect() as conn:
            frame = repo.balances_frame(conn, [z[4] for z in BONDED_ZONES])
        return {(e, i): b2 for e, i, _u, _b, u2, b2 in frame.iter_rows() if u2 is not None}

    def statuses(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(document.c.business_key, document.c.status).where(document.c.kind == "list")
            )
            return {k: int(s) for k, s in rows}

    def ledger_state(self) -> tuple[dict[tuple[str, str], int], list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            moves = sorted(
                (r.kind, r.item_record_no, r.qty, r.ref) for r in conn.execute(select(ledger_movement))
            )
        return self.balances(), moves


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    import os

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cbec.db'}"
    url = os.environ.get("CBEC_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip("PostgreSQL variant not run: set CBEC_TEST_POSTGRES_URL to a scratch database")
    mp = request.getfixturevalue("monkeypatch")
    mp.setenv("CBEC_BUYER_KEY_SECRET", "cbec ledger tests")
    mp.setenv("CBEC_DATA_KEY", "Y2JlYyBzdG9yZSB0ZXN0cyBkYXRhIGtleSAzMiBieXQ=")
    return url


def _key(order_no: str, statuses: dict[str, int]) -> str:
    return next(k for k in statuses if k.endswith(f"|{order_no}"))


def test_shortage_holds_lists_and_an_entry_releases_them(db_url: str, tmp_path: Path, corpus: Path) -> None:
    w = Bonded(db_url, tmp_path, corpus, default_parameters())
    w.clear()
    statuses = w.statuses()
    ems, item = w.short_item
    wants = w.demand[(ems, item)]
    held_keys = {_key(o, statuses) for o, _ in wants if statuses[_key(o, statuses)] == 399}
    assert held_keys, "the planted shortage holds at least one list"
    with w.engine.connect() as conn:
        holds = repo.open_holds(conn)
    assert {h.list_key for h in holds} == held_keys
    assert all("余额不足" in h.reason_zh and "insufficient" in h.reason_en for h in holds)
    # every other 1210 list on the ledgers is released, and the balances are stock − write-offs, never < 0
    bal = w.balances()
    assert all(v >= 0 for v in bal.values())
    released_units: dict[tuple[str, str], int] = defaultdict(int)
    for (e, i), rows in w.demand.items():
        for order_no, q in rows:
            if statuses[_key(order_no, statuses)] == 800:
                released_units[(e, i)] += q
    for k, stock in w.stock.items():
        assert bal[k] == stock - released_units[k]
    # receipts: the held list got 120 then 399 with the ledger's reason, not 800
    some = sorted(held_keys)[0]
    with w.engine.connect() as conn:
        guid = conn.execute(
            select(document.c.guid).where(document.c.kind == "list", document.c.business_key == some)
        ).scalar_one()
    got = answers_list(w, guid)
    assert [a["returnStatus"] for a in got] == ["120", "399"]
    assert "余额不足" in got[-1]["returnInfo"]

    # replenishment: a first-line entry releases the held lists in arrival order, 800 receipt + write-off
    need = sum(q for o, q in wants if _key(o, statuses) in held_keys)
    with w.engine.begin() as conn:
        out = E.entry(
            conn, ems, "ENTRY-REPLENISH", [E.Line(item, Decimal(need) / R.SCALE)], actor="t", at=LATER
        )
    assert set(out.released) == held_keys and out.receipts >= 1
    after = w.statuses()
    assert all(after[k] == 800 for k in held_keys)
    assert w.balances()[(ems, item)] == bal[(ems, item)] + need - need
    got = answers_list(w, guid)
    assert [a["returnStatus"] for a in got] == ["120", "399", "800"]
    with w.engine.connect() as conn:
        assert repo.open_holds(conn) == []
        n_writeoffs = conn.execute(
            select(func.count()).select_from(ledger_movement).where(ledger_movement.c.kind == "writeoff")
        ).scalar_one()
    assert n_writeoffs == sum(
        1 for rows in w.demand.values() for o, _ in rows if after[_key(o, after)] == 800
    )
    # a repeated entry number is refused, nothing changes
    with pytest.raises(repo.LedgerError), w.engine.begin() as conn:
        E.entry(conn, ems, "ENTRY-REPLENISH", [E.Line(item, Decimal(1))], actor="t", at=LATER)
    assert_receipts_valid(World(w.engine, w.params, tmp_path))

    # rebuild + replay of the inbox gives the same ledger (balances and movements) and statuses
    before = w.ledger_state()
    rebuild(w.engine)
    w.clearer(CLEARED_AT).replay()
    assert w.ledger_state() == before
    assert w.statuses() == after


def answers_list(w: Bonded, guid: str) -> list[dict[str, str]]:
    return answers(World(w.engine, w.params, w.root), "CEB622Message", guid)


def test_lists_of_a_ledger_not_filed_in_cbec_clear_as_before(tmp_path: Path, corpus: Path) -> None:
    w = Bonded(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, corpus, default_parameters())
    # the zone's enterprise keeps its own ledger elsewhere: drop the busiest ledger's filing entirely
    ems = w.short_item[0]
    with w.engine.begin() as conn:
        lid = repo.get_ledger(conn, ems).id  # type: ignore[union-attr]
        from cbec.store.schema import ledger, ledger_item

        conn.execute(ledger_movement.delete().where(ledger_movement.c.ledger_id == lid))
        conn.execute(ledger_item.delete().where(ledger_item.c.ledger_id == lid))
        conn.execute(ledger.delete().where(ledger.c.id == lid))
    w.clear()
    statuses = w.statuses()
    for (e, _i), rows in w.demand.items():
        if e == ems:
            assert all(statuses[_key(o, statuses)] != 399 for o, _ in rows)
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_hold)).scalar_one() == 0


def test_officer_release_checks_and_writes_off(tmp_path: Path, corpus: Path) -> None:
    params = _review_everything(tmp_path / "params")
    w = Bonded(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, corpus, params)
    w.clear()
    statuses = w.statuses()
    ems, item = w.short_item
    keys = [_key(o, statuses) for o, _ in w.demand[(ems, item)]]
    assert all(statuses[k] == 300 for k in keys)  # everything went to manual review
    assert w.balances() == w.stock  # nothing written off yet
    outcomes = []
    for k in keys:
        with w.engine.begin() as conn:
            outcomes.append(
                record_result(conn, kind="review", result="release", officer="关员1", at=LATER, list_key=k)
            )
    # in this order the last list does not fit: held at 399 with the ledger's reason
    assert [o.to_status for o in outcomes][:-1] == [800] * (len(keys) - 1)
    assert outcomes[-1].to_status == 399
    with w.engine.connect() as conn:
        reasons = (
            conn.execute(
                select(decision.c.reason_en).where(decision.c.list_key == keys[-1]).order_by(decision.c.id)
            )
            .scalars()
            .all()
        )
        assert "ledger cannot cover it" in reasons[-1]
        assert {h.list_key for h in repo.open_holds(conn)} == {keys[-1]}
    assert w.balances()[(ems, item)] >= 0
    with w.engine.begin() as conn:
        out = E.adjust(
            conn, ems, "APPROVAL-1", [E.Line(item, Decimal(1))], actor="关员1", at=LATER, reason="盘盈"
        )
    assert out.released == [keys[-1]]
    assert w.statuses()[keys[-1]] == 800


def _review_everything(folder: Path) -> ParameterSet:
    folder.mkdir(parents=True, exist_ok=True)
    ref = "        reference: {source: test, clause: test}\n"
    (folder / "risk.yaml").write_text(
        "parameters:\n"
        "  - name: import.risk.manual_review_rate\n    description: t\n    unit: ratio\n"
        "    values:\n      - from: 2016-01-01\n        value: 1\n" + ref + ""
        "  - name: import.risk.inspection_rate\n    description: t\n    unit: ratio\n"
        "    values:\n      - from: 2016-01-01\n        value: 0\n" + ref,
        encoding="utf-8",
    )
    return ParameterSet.load(folder)


def test_accepted_return_goes_back_into_stock_and_stocktake_reconciles(tmp_path: Path, corpus: Path) -> None:
    w = Bonded(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, corpus, default_parameters(), shortage=False)
    w.clear()
    statuses = w.statuses()
    (ems, item), rows = sorted(w.demand.items())[0]
    key = _key(rows[0][0], statuses)
    assert statuses[key] == 800
    bal0 = w.balances()[(ems, item)]
    world = World(w.engine, w.params, tmp_path)
    at = CLEARED_AT + timedelta(days=3)
    _guid, xml = return_message(world, key, at)
    w.clearer(at).clear_batch([("r.xml", xml)])
    assert w.balances()[(ems, item)] == bal0 + rows[0][1]
    with w.engine.connect() as conn:
        kinds = {r.kind for r in repo.movements(conn, repo.get_ledger(conn, ems).id)}  # type: ignore[union-attr]
    assert {"entry", "writeoff", "return"} <= kinds

    # stocktake: count one unit less than the book of the item, one equal; reconcile
    book = w.balances()
    counted = {item: Decimal(book[(ems, item)] - R.SCALE) / R.SCALE}
    other = next(i for (e, i) in book if e == ems and i != item)
    counted[other] = Decimal(book[(ems, other)]) / R.SCALE
    count_at = datetime.now(UTC)
    with w.engine.begin() as conn:
        sid = E.record_count(conn, ems, counted, counted_at=count_at, actor="仓管")
    with w.engine.connect() as conn:
        rec = E.reconcile(conn, ems)
    assert rec.stocktake_id == sid
    by_item = {r.item_record_no: r for r in rec.rows}
    assert by_item[item].difference == -R.SCALE and by_item[other].difference == 0
    assert by_item[item].movements["return"] == rows[0][1]  # the movements explain the book
    assert (
        sum(by_item[item].movements.values()) == by_item[item].book
    )  # first stocktake: book = all movements
    text = E.reconciliation_csv(rec)
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][0].startswith("料号") and {r[0] for r in table[1:]} == {item, other}
    assert next(r for r in table[1:] if r[0] == item)[6] == "-1"
    path = tmp_path / "rec.xlsx"
    E.reconciliation_xlsx(rec, path)
    wb = load_workbook(path)
    sheet = wb["对账 Reconciliation"]
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert {v[0] for v in values} == {item, other}
    assert next(v for v in values if v[0] == item)[6] == -1
    assert wb["变动 Movements"].max_row > 1
    # a second stocktake reconciles against the first: opening count + movements since = book
    with w.engine.begin() as conn:
        E.record_count(
            conn, ems, {item: counted[item]}, counted_at=count_at + timedelta(hours=1), actor="仓管"
        )
    with w.engine.connect() as conn:
        rec2 = E.reconcile(conn, ems)
    row = rec2.rows[0]
    assert row.opening == R.to_units(counted[item]) and row.movements == {} and row.unexplained == 0
    assert row.difference == -R.SCALE


def test_transfer_and_disposal_move_stock_and_refuse_overdrafts(tmp_path: Path, corpus: Path) -> None:
    w = Bonded(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, corpus, default_parameters(), shortage=False)
    (a, item) = sorted(w.stock)[0]
    b = next(z[4] for z in BONDED_ZONES if z[4] != a)
    have = w.balances()[(a, item)]
    with w.engine.begin() as conn:
        E.transfer(conn, a, b, "TRANSFER-1", [E.Line(item, Decimal(1))], actor="t", at=LATER)
    bal = w.balances()
    assert bal[(a, item)] == have - R.SCALE and bal[(b, item)] == w.stock.get((b, item), 0) + R.SCALE
    with w.engine.begin() as conn:
        E.dispose(conn, b, "destroy", "DESTROY-1", [E.Line(item, Decimal(1))], actor="t", at=LATER)
    assert w.balances()[(b, item)] == w.stock.get((b, item), 0)
    before = w.ledger_state()
    with pytest.raises(repo.LedgerError, match="insufficient"), w.engine.begin() as conn:
        E.dispose(
            conn, a, "trade", "TRADE-1", [E.Line(item, Decimal(have) / R.SCALE + 5)], actor="t", at=LATER
        )
    assert w.ledger_state() == before  # nothing written
    with pytest.raises(repo.LedgerError), w.engine.begin() as conn:
        E.file_ledger(conn, ems_no="T9999W000009", area_code="3301960101", customs_code="2924", filed_by="t")


def test_a_list_short_only_on_the_second_quantity_is_held_until_an_entry_brings_it(
    db_url: str, tmp_path: Path, corpus: Path
) -> None:
    w = Bonded(db_url, tmp_path, corpus, default_parameters(), shortage=False, second=True)
    assert w.short2_item is not None and len(w.demand2[w.short2_item][1]) >= 2, "the corpus has such an item"
    w.clear()
    statuses = w.statuses()
    ems, item = w.short2_item
    wants2 = w.demand2[(ems, item)][1]
    held_keys = {_key(o, statuses) for o, _ in wants2 if statuses[_key(o, statuses)] == 399}
    assert held_keys, "the planted shortage of the second quantity holds a list"
    with w.engine.connect() as conn:
        holds = repo.open_holds(conn)
    assert {h.list_key for h in holds} == held_keys  # every other 1210 list fits both quantities
    assert all(h.rule == R.SHORT for h in holds)
    assert all(
        "第二法定数量余额不足" in h.reason_zh and "second legal quantity" in h.reason_en for h in holds
    )
    # the first quantity was never short
    assert w.balances()[(ems, item)] >= sum(h.qty for h in holds if h.item_record_no == item)
    assert all(v >= 0 for v in w.balances2().values())
    # written off on both quantities: what is left is the stock less the released lines'
    released2: dict[tuple[str, str], int] = defaultdict(int)
    for k, (_u2, rows) in w.demand2.items():
        for order_no, q2 in rows:
            if statuses[_key(order_no, statuses)] == 800:
                released2[k] += q2
    assert w.balances2() == {k: w.stock2[k] - released2[k] for k in w.stock2}

    # more of the first quantity alone releases nothing; an entry bringing the second quantity does
    with w.engine.begin() as conn:
        out = E.adjust(conn, ems, "HZ-QTY1", [E.Line(item, Decimal(1))], actor="t", at=LATER, reason="盘盈")
    assert out.released == [] and all(w.statuses()[k] == 399 for k in held_keys)
    need2 = sum(q2 for o, q2 in wants2 if _key(o, statuses) in held_keys)
    with w.engine.begin() as conn:
        out = E.entry(
            conn,
            ems,
            "ENTRY-QTY2",
            [E.Line(item, Decimal(1), Decimal(need2) / R.SCALE)],
            actor="t",
            at=LATER,
        )
    assert set(out.released) == held_keys and out.receipts >= 1
    after = w.statuses()
    assert all(after[k] == 800 for k in held_keys)
    assert w.balances2()[(ems, item)] == 0
    with w.engine.connect() as conn:
        assert repo.open_holds(conn) == []
    assert_receipts_valid(World(w.engine, w.params, tmp_path))

    # rebuild + replay derives the same ledger, second quantities included
    before = (w.ledger_state(), w.balances2())
    rebuild(w.engine)
    w.clearer(CLEARED_AT).replay()
    assert (w.ledger_state(), w.balances2()) == before
    assert w.statuses() == after


def test_movements_that_would_overdraw_the_second_quantity_are_refused(
    db_url: str, tmp_path: Path, corpus: Path
) -> None:
    w = Bonded(db_url, tmp_path, corpus, default_parameters(), shortage=False, second=True)
    ems, item = sorted(w.stock2)[0]
    have2 = w.stock2[(ems, item)]
    plain = next(k for k in sorted(w.stock) if k not in w.stock2 and k[0] == ems)[1]
    one = Decimal(1) / R.SCALE
    before = (w.ledger_state(), w.balances2())

    def refused(match: str, how: str, lines: list[E.Line]) -> None:
        with pytest.raises(repo.LedgerError, match=match), w.engine.begin() as conn:
            if how == "adjust":
                E.adjust(conn, ems, "HZ-QTY2", lines, actor="t", at=LATER, reason="盘亏")
            else:
                E.dispose(conn, ems, how, "XH-QTY2", lines, actor="t", at=LATER)
        assert (w.ledger_state(), w.balances2()) == before  # nothing written

    # the first quantity would fit; the second would go below zero
    over = Decimal(have2 + 1) / R.SCALE
    refused("second legal quantity insufficient", "destroy", [E.Line(item, one, over)])
    refused("second legal quantity insufficient", "adjust", [E.Line(item, Decimal(0), -over)])
    # goods leaving an item with a second unit state their second quantity; one without takes none
    refused("give its second quantity", "destroy", [E.Line(item, one)])
    refused("no second legal unit", "destroy", [E.Line(plain, one, one)])
    refused("kept in second legal unit", "destroy", [E.Line(item, one, one, unit2="999")])
    with w.engine.begin() as conn:
        E.dispose(
            conn,
            ems,
            "destroy",
            "XH-QTY2",
            [E.Line(item, one, Decimal(have2) / R.SCALE)],
            actor="t",
            at=LATER,
        )
    assert w.balances2()[(ems, item)] == 0
    other = next(z[4] for z in BONDED_ZONES if z[4] != ems)
    with (
        pytest.raises(repo.LedgerError, match="second legal quantity insufficient"),
        w.engine.begin() as conn,
    ):
        E.transfer(conn, ems, other, "LZ-QTY2", [E.Line(item, one, one)], actor="t", at=LATER)
    assert w.balances2()[(ems, item)] == 0
