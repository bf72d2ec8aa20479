"""Export clearing end to end: generated 9610/9710/9810 traffic through the clearing shell, as ``cbec clear``
runs it, read back from the store and the outbox.

Every planted fault must be caught with its code, clean parcels must go 2 → 120 → 399 → 800 → 899 through
arrival and departure, every receipt must validate against the official export XSD, a replay of the same
messages must change nothing, and the cleared lists must come back with the CEB603 field names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from cbec.engine import prerefund
from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.decode import decode
from cbec.messages.spec import message_spec
from cbec.messages.xsd import validate_bytes, xsd_available
from cbec.params.dated import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rules import export as X
from cbec.sim.exports import ExportConfig, generate_exports, write_exports
from cbec.store import connect
from cbec.store.export_lists import cleared_lists
from cbec.store.schema import decision, document, export_list, export_refund_line, receipt

NOW = datetime(2026, 11, 11, 23, 0)
FAULTS = {
    "missing_waybill": 0.04,
    "over_limit_b2b": 0.04,
    "simplified_licensed": 0.04,
    "cancel_after_departure": 0.04,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    write_exports(generate_exports(ExportConfig(parcels=150, seed=5, faults=FAULTS)), root / "in")
    return root / "in"


def _clear(engine: Engine, corpus: Path, outbox: Path, now: datetime = NOW) -> Clearer:
    clearer = Clearer(engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=outbox, now=now)
    clearer.clear_stream(iter_inputs(corpus), batch_messages=120)
    return clearer


@pytest.fixture
def cleared(corpus: Path, tmp_path: Path) -> Engine:
    engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
    _clear(engine, corpus, tmp_path / "outbox")
    return engine


def _statuses(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(export_list.c.order_no, export_list.c.status, export_list.c.invt_no)).all()
    return pl.DataFrame(
        rows, schema={"orderNo": pl.String, "status": pl.Int64, "invtNo": pl.String}, orient="row"
    )


def _manifest(corpus: Path) -> pl.DataFrame:
    return pl.read_csv(
        corpus / "exports-manifest.csv", schema_overrides={"ebpCode": pl.String, "expected_code": pl.String}
    )


def _entries(engine: Engine, message_type: str) -> list[dict[str, str]]:
    out = []
    with engine.connect() as conn:
        for (xml,) in conn.execute(select(receipt.c.xml).where(receipt.c.message_type == message_type)):
            out += [{k: str(v) for k, v in d.head.items()} for d in decode(bytes(xml)).documents]
    return out


def test_every_list_ends_where_the_manifest_says(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus)
    got = man.join(_statuses(cleared), on="orderNo", how="left")
    wrong = got.filter(pl.col("status") != pl.col("expected_status"))
    assert wrong.height == 0, wrong
    assert set(man["fault"].to_list()) >= {*FAULTS, None}  # every fault was planted at least once


def test_planted_faults_are_refused_with_their_code(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus).join(_statuses(cleared), on="orderNo")
    by_invt = {e["invtNo"]: e for e in _entries(cleared, "CEB604Message") if e["returnStatus"] == "100"}
    for fault, code in (("over_limit_b2b", X.LIST_B2B_LIMIT), ("simplified_licensed", X.LIST_SIMPLIFIED)):
        rows = man.filter(pl.col("fault") == fault)
        assert rows.height
        for invt in rows["invtNo"].to_list():
            assert by_invt[invt]["returnInfo"].startswith(code + " "), by_invt[invt]
    late = man.filter(pl.col("fault") == "cancel_after_departure")["invtNo"].to_list()
    refusals = {e["invtNo"]: e for e in _entries(cleared, "CEB606Message") if e["returnStatus"] == "100"}
    assert late and all(refusals[i]["returnInfo"].startswith(X.CANCEL_STATUS + " ") for i in late)
    assert all("已离境结关" in refusals[i]["returnInfo"] for i in late)


def test_missing_documents_wait_then_expire(cleared: Engine, corpus: Path, tmp_path: Path) -> None:
    man = _manifest(corpus)
    missing = man.filter(pl.col("fault") == "missing_waybill")["orderNo"].to_list()
    assert missing
    # a later day's traffic, past the wait, refuses them with the code for missing documents (运单)
    later = tmp_path / "later"
    write_exports(generate_exports(ExportConfig(parcels=3, seed=6, faults={})), later)
    _clear(cleared, later, tmp_path / "outbox2", now=NOW + timedelta(hours=80))
    st = _statuses(cleared).filter(pl.col("orderNo").is_in(missing))
    assert set(st["status"].to_list()) == {X.REFUSED}
    refused = {e["invtNo"]: e for e in _entries(cleared, "CEB604Message") if e["returnStatus"] == "100"}
    for invt in st["invtNo"].to_list():
        assert refused[invt]["returnInfo"].startswith(X.LIST_MISSING + " 单证不齐"), refused[invt]
        assert "运单" in refused[invt]["returnInfo"]


def test_clean_parcels_pass_every_status_in_order(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus).join(_statuses(cleared), on="orderNo")
    clean = man.filter(
        (pl.col("fault").is_null() | (pl.col("fault") == "")) & (pl.col("status") == X.CLEARED)
    )
    assert clean.height > 50
    by_invt: dict[str, list[dict[str, str]]] = {}
    for e in _entries(cleared, "CEB604Message"):
        by_invt.setdefault(e["invtNo"], []).append(e)
    for invt in clean["invtNo"].to_list()[:40]:
        seq = [e["returnStatus"] for e in sorted(by_invt[invt], key=lambda e: e["returnTime"])]
        assert seq == ["120", "399", "800", "899"], (invt, seq)
    # the order and the waybill were answered when the list was matched, the collection after it concluded
    assert {e["returnStatus"] for e in _entries(cleared, "CEB304Message")} >= {"2", "120"}
    assert "399" in {e["returnStatus"] for e in _entries(cleared, "CEB506Message")}
    assert "120" in {e["returnStatus"] for e in _entries(cleared, "CEB404Message")}


@pytest.mark.skipif(not xsd_available(), reason="official XSDs not available")
def test_every_export_receipt_is_xsd_valid(cleared: Engine) -> None:
    seen = set()
    with cleared.connect() as conn:
        for mtype, xml in conn.execute(select(receipt.c.message_type, receipt.c.xml)):
            problems = validate_bytes(bytes(xml), message_spec(mtype).family)
            assert not problems, (mtype, problems[:3])
            seen.add(mtype)
    assert seen >= {
        "CEB304Message",
        "CEB404Message",
        "CEB506Message",
        "CEB508Message",
        "CEB510Message",
        "CEB604Message",
        "CEB606Message",
        "CEB608Message",
    }


def _snapshot(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            "lists": sorted(
                tuple(r) for r in conn.execute(select(export_list.c.list_key, export_list.c.status))
            ),
            "documents": conn.execute(select(func.count()).select_from(document)).scalar_one(),
            "decisions": conn.execute(select(func.count()).select_from(decision)).scalar_one(),
            "receipts": conn.execute(select(func.count()).select_from(receipt)).scalar_one(),
        }


def test_the_same_messages_twice_have_one_effect(cleared: Engine, corpus: Path, tmp_path: Path) -> None:
    before = _snapshot(cleared)
    again = _clear(cleared, corpus, tmp_path / "outbox-again")
    assert again.summary.repeated_messages == again.summary.messages
    assert _snapshot(cleared) == before


def test_replay_after_rebuild_reaches_the_same_statuses(cleared: Engine, tmp_path: Path) -> None:
    from cbec.store.maintenance import rebuild

    before = _statuses(cleared).sort("orderNo")
    rebuild(cleared)
    clearer = Clearer(cleared, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=NOW)
    clearer.replay(batch_messages=120)
    assert _statuses(cleared).sort("orderNo").equals(before)


def test_cleared_lists_come_back_with_ceb603_fields(cleared: Engine, corpus: Path) -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    with cleared.connect() as conn:
        heads, lines = cleared_lists(conn, start, end)
        none, _ = cleared_lists(conn, end, end + timedelta(days=30))
    expected = _manifest(corpus).filter(pl.col("expected_status") == X.CLEARED).height
    assert heads.height == expected and none.height == 0
    for name in ("invtNo", "clearedAt", "ebcCode", "trafMode", "ownerCode", "country", "portCode", "billNo"):
        assert name in heads.columns
    for name in ("invtNo", "gnum", "gcode", "country", "currency", "qty1", "unit1", "totalPrice", "itemName"):
        assert name in lines.columns
    assert heads["billNo"].null_count() == 0  # supplied by the master bills
    assert heads["invtNo"].null_count() == 0 and lines["invtNo"].null_count() == 0
    assert set(lines["invtNo"].unique().to_list()) == set(heads["invtNo"].to_list())


def test_prerefund_lines_get_a_provisional_refund_and_a_true_up(cleared: Engine) -> None:
    with cleared.begin() as conn:
        rows = conn.execute(
            select(export_refund_line).where(export_refund_line.c.status == "provisional")
        ).all()
        assert rows, "the corpus has no pre-refunded 9810 line"
        row = rows[0]
        assert row.provisional_fen == X.provisional_fen(row.value_fen, row.refund_rate_bp) > 0
        qty = Decimal(row.qty_e5) / 100_000
        at = datetime(2026, 12, 1, tzinfo=UTC)
        first = prerefund.record(
            conn,
            event_id="ev-1",
            invt_no=row.invt_no,
            gnum=row.gnum,
            kind="returned",
            qty=qty,
            by="test",
            at=at,
        )
        assert first.recorded and first.repay_fen == row.provisional_fen
        again = prerefund.record(
            conn,
            event_id="ev-1",
            invt_no=row.invt_no,
            gnum=row.gnum,
            kind="returned",
            qty=qty,
            by="test",
            at=at,
        )
        assert not again.recorded and again.line.returned == qty  # one effect
        with pytest.raises(prerefund.TrueUpError):
            prerefund.record(
                conn,
                event_id="ev-2",
                invt_no=row.invt_no,
                gnum=row.gnum,
                kind="sold",
                qty=Decimal("0.00001"),
                by="test",
                at=at,
            )


def test_parcel_history_finds_an_export_parcel_by_each_handle(cleared: Engine, corpus: Path) -> None:
    from cbec.service.history import Handles, parcel_history

    man = _manifest(corpus).join(_statuses(cleared), on="orderNo")
    row = man.filter(pl.col("status") == X.CLEARED).row(0, named=True)
    with cleared.connect() as conn:
        for handles in (
            Handles(invt_no=row["invtNo"]),
            Handles(order_no=row["orderNo"], ebp_code=row["ebpCode"]),
            Handles(logistics_no=row["logisticsNo"], logistics_code=None),
        ):
            codes = ("3301960301", "4403960302", "1101960303")  # the generator's carriers
            history = parcel_history(conn, handles, default_codes=codes)
            kinds = {d["kind"] for d in history.documents}
            assert {"x_list", "x_order", "x_waybill", "x_receipts"} <= kinds, (handles, kinds)
            assert [d["status"] for d in history.decisions] == [399, 800, 899]
            statuses = {
                e["returnStatus"]
                for r in history.receipts
                if r["messageType"] == "CEB604Message"
                for e in r["entries"]
            }
            assert statuses >= {"120", "399", "800", "899"}
