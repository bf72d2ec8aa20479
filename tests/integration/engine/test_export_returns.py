"""Export returns end to end: generated export days and return days (``cbec.sim.returns``) cleared in date
order through the clearing shell, as ``cbec clear --now`` runs them, read back from the store and the outbox.

Every planted fault must be caught with its code, clean returns must go 120 → 800 once their parcel is
tallied, consolidated master bills must be tallied parcel by parcel, every CEB214/216/608 receipt must be
XSD-valid, and replaying the same days must change nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.decode import decode
from cbec.messages.encode_columns import encode_documents
from cbec.messages.xsd import validate_bytes, xsd_available
from cbec.params.dated import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rules import export_returns as R
from cbec.sim.returns import ReturnConfig, generate_returns, write_returns
from cbec.store import connect, reset
from cbec.store import export_returns as repo
from cbec.store import inbox as inbox_repo
from cbec.store.schema import export_list, export_return, export_return_line, export_return_tally, receipt

TEST_DATA_KEY = "Y2JlYyBzdG9yZSB0ZXN0cyBkYXRhIGtleSAzMiBieXQ="  # 32 bytes, base64: tests only


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("returns") / "in"
    write_returns(generate_returns(ReturnConfig(parcels=120, seed=3, rate_scale=3.0)), root)
    return root


def _days(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.is_dir())


def _clear_all(engine: Engine, corpus: Path, outbox: Path) -> None:
    for folder in _days(corpus):
        day = date.fromisoformat(folder.name)
        clearer = Clearer(
            engine,
            params=default_parameters(),
            hs=load_cbec_hs().frame(),
            outbox=outbox,
            now=datetime(day.year, day.month, day.day, 23, 0),
        )
        clearer.clear_stream(iter_inputs(folder), batch_messages=80)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cleared(
    request: pytest.FixtureRequest, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The days cleared into a fresh store: SQLite, and PostgreSQL when ``CBEC_TEST_POSTGRES_URL`` names a
    scratch database (emptied first)."""
    tmp = tmp_path_factory.mktemp("returns-db")
    url = f"sqlite:///{tmp / 'cbec.db'}"
    mp = pytest.MonkeyPatch()
    if request.param == "postgresql":
        url = os.environ.get("CBEC_TEST_POSTGRES_URL", "")
        if not url:
            pytest.skip("PostgreSQL variant not run: set CBEC_TEST_POSTGRES_URL to a scratch database")
        mp.setenv("CBEC_BUYER_KEY_SECRET", "cbec export return tests")
        mp.setenv("CBEC_DATA_KEY", TEST_DATA_KEY)
        reset(connect(url))
    engine = connect(url)
    with engine.begin() as conn:
        for row in pl.read_csv(corpus / "return-sites.csv", infer_schema_length=0).iter_rows(named=True):
            repo.file_site(
                conn,
                repo.Site(
                    row["customs_code"],
                    row["operator_code"],
                    row["name"],
                    date.fromisoformat(row["valid_from"]),
                ),
                by="test",
                at=datetime(2024, 12, 1, tzinfo=UTC),
            )
    _clear_all(engine, corpus, tmp / "outbox")
    yield engine
    engine.dispose()
    mp.undo()


def _manifest(corpus: Path) -> pl.DataFrame:
    return pl.read_csv(corpus / "returns-manifest.csv", infer_schema_length=0).with_columns(
        pl.col("expected_status").cast(pl.Int64)
    )


def _returns(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(export_return.c.co_el_no, export_return.c.status, export_return.c.code)
        ).all()
    return pl.DataFrame(
        rows, schema={"coElNo": pl.String, "status": pl.Int64, "code": pl.String}, orient="row"
    )


def _entries(engine: Engine, message_type: str) -> list[dict[str, str]]:
    out = []
    with engine.connect() as conn:
        for (xml,) in conn.execute(select(receipt.c.xml).where(receipt.c.message_type == message_type)):
            out += [{k: str(v) for k, v in d.head.items()} for d in decode(bytes(xml)).documents]
    return out


def test_every_return_ends_where_the_manifest_says(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus)
    assert man.height > 10
    got = man.join(_returns(cleared), on="coElNo", how="left")
    wrong = got.filter(pl.col("status") != pl.col("expected_status"))
    assert wrong.height == 0, wrong
    faults = set(man["fault"].drop_nulls().to_list())
    assert faults >= {
        "over_quantity",
        "after_one_year",
        "cross_district_before_pilot",
        "cross_district_outside_pilot",
        "unregistered_site",
    }
    # a cross-district return during the pilot, into the filed site, is released
    pilot = man.filter((pl.col("day") == "2025-06-20") & (pl.col("fault").fill_null("") == ""))
    assert pilot.height == 1 and pilot["returnCustoms"][0] == "3100"


def test_planted_faults_are_caught_with_their_code(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus).filter(pl.col("fault").is_not_null() & (pl.col("fault") != ""))
    refused = {e["coElNo"]: e for e in _entries(cleared, "CEB214Message") if e["returnStatus"] == "100"}
    tallies = [e for e in _entries(cleared, "CEB216Message") if e["returnStatus"] == "100"]
    for row in man.iter_rows(named=True):
        if row["fault"] == "unregistered_site":
            hit = [t for t in tallies if t["logisticsNo"] == row["logisticsNo"]]
            assert hit and hit[0]["returnInfo"].startswith(R.TALLY_SITE + " "), hit
        else:
            assert refused[row["coElNo"]]["returnInfo"].startswith(row["expected_code"] + " "), row
    before = man.filter(pl.col("fault") == "cross_district_before_pilot")["coElNo"].to_list()
    assert "2024-12-15" in refused[before[0]]["returnInfo"]
    outside = man.filter(pl.col("fault") == "cross_district_outside_pilot")["coElNo"].to_list()
    assert "4200" in refused[outside[0]]["returnInfo"] and "试点" in refused[outside[0]]["returnInfo"]


def test_clean_returns_are_accepted_then_released_with_their_tax(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus).filter(pl.col("expected_status") == R.RELEASED)
    assert man.height > 5
    seqs: dict[str, list[str]] = {}
    for e in _entries(cleared, "CEB214Message"):
        seqs.setdefault(e["coElNo"], []).append(e["returnStatus"])
    for co in man["coElNo"].to_list():
        assert seqs[co] == ["120", "800"], (co, seqs[co])
    with cleared.connect() as conn:
        lines = conn.execute(
            select(export_return_line.c.tax_basis, func.count()).group_by(export_return_line.c.tax_basis)
        ).all()
    bases = dict(lines)
    assert bases.get("exempt", 0) > 0  # the main returns come back 5 weeks after export: within 6 months
    assert (
        None not in bases or bases[None] <= man.height
    )  # accepted-but-not-tallied lines have no outcome yet


def test_consolidated_returns_are_tallied_parcel_by_parcel(cleared: Engine, corpus: Path) -> None:
    man = _manifest(corpus)
    bills = [b for b in man["billNo"].unique().to_list() if b]
    assert bills
    with cleared.connect() as conn:
        for bill in bills:
            parcels = repo.master_bill(conn, bill)
            expected = man.filter(pl.col("billNo") == bill)
            assert len(parcels) == expected["logisticsNo"].n_unique()
            assert {p["tally_status"] for p in parcels} == {R.TALLIED}
        first = man.filter(pl.col("billNo") == bills[0])["invtNo"][0]
        history = repo.history(conn, first)
    assert history and history[0]["bill_lines"] and history[0]["tallies"]


@pytest.mark.skipif(not xsd_available(), reason="official XSDs not available")
def test_every_return_receipt_is_xsd_valid(cleared: Engine) -> None:
    with cleared.connect() as conn:
        rows = conn.execute(
            select(receipt.c.message_type, receipt.c.xml).where(
                receipt.c.message_type.in_(["CEB214Message", "CEB216Message", "CEB608Message"])
            )
        ).all()
    kinds = {m for m, _x in rows}
    assert {"CEB214Message", "CEB216Message", "CEB608Message"} <= kinds
    for _m, xml in rows:
        assert validate_bytes(bytes(xml), "export") == []


def test_replaying_the_days_changes_nothing(cleared: Engine, corpus: Path, tmp_path: Path) -> None:
    with cleared.connect() as conn:
        before = (
            _returns(cleared).sort("coElNo"),
            conn.execute(select(func.count()).select_from(receipt)).scalar_one(),
            conn.execute(select(func.count()).select_from(export_return_tally)).scalar_one(),
            conn.execute(select(func.sum(export_return_line.c.qty_e5))).scalar_one(),
        )
    _clear_all(cleared, corpus, tmp_path / "outbox")
    with cleared.connect() as conn:
        after = (
            _returns(cleared).sort("coElNo"),
            conn.execute(select(func.count()).select_from(receipt)).scalar_one(),
            conn.execute(select(func.count()).select_from(export_return_tally)).scalar_one(),
            conn.execute(select(func.sum(export_return_line.c.qty_e5))).scalar_one(),
        )
    assert before[0].equals(after[0]) and before[1:] == after[1:]


def _one_message(mtype: str, head: dict[str, object], lines: list[dict[str, object]] | None) -> bytes:
    h = pl.DataFrame([head]).with_columns(
        pl.lit(0, pl.Int32).alias("_msg"), pl.lit(0, pl.Int32).alias("_doc")
    )
    ln = None
    if lines is not None:
        ln = pl.DataFrame(lines).with_columns(
            pl.lit(0, pl.Int32).alias("_msg"), pl.lit(0, pl.Int32).alias("_doc")
        )
    transfer: dict[str, str | None] = {
        "copCode": "TEST",
        "copName": "TEST",
        "dxpMode": "DXP",
        "dxpId": "DXPTEST",
    }
    [(_m, xml)] = encode_documents(mtype, h, ln, transfers={0: transfer})
    return xml


def test_a_tally_before_its_application_and_a_second_application_for_a_tallied_parcel(
    cleared: Engine, tmp_path: Path
) -> None:
    with cleared.connect() as conn:
        taken = select(export_return.c.invt_no)
        row = conn.execute(
            select(export_list.c.invt_no, export_list.c.inbox_id, export_list.c.customs_code).where(
                export_list.c.status == 899,
                export_list.c.trade_mode == "9610",
                export_list.c.invt_no.not_in(taken),
                export_list.c.released_at >= datetime(2026, 5, 1, tzinfo=UTC),
            )
        ).first()
        assert row is not None
        raw = inbox_repo.raw_by_ids(conn, [row.inbox_id])[row.inbox_id]
    doc = decode(raw).documents[0]
    h, first = doc.head, doc.lines[0]
    day = datetime(2026, 6, 20, 10)
    parcel = "RTLATE000001"
    tally = {
        "guid": "A0B0C0D0-0000-4000-8000-0000000FF215",
        "appType": "1",
        "appTime": day,
        "appStatus": "2",
        "customsCode": row.customs_code,
        "operatorCode": "OPRTEST",
        "operatorName": "测试监管场所",
        "logisticsCode": "HUB",
        "logisticsName": "HUB",
        "logisticsNo": parcel,
        "coElNo": "TLATE1",
        "billNo": parcel,
        "ieFlag": "I",
        "trafMode": "5",
        "trafName": "CZ",
        "voyageNo": "CZ1",
    }

    def application(n: int, qty: Decimal) -> bytes:
        head = {
            "guid": f"A0B0C0D0-0000-4000-8000-0000000FF21{n}",
            "appType": "1",
            "appTime": day,
            "appStatus": "2",
            "customsCode": row.customs_code,
            "ebpCode": h["ebpCode"],
            "ebpName": h["ebpName"],
            "ebcCode": h["ebcCode"],
            "ebcName": h["ebcName"],
            "logisticsNo": parcel,
            "logisticsCode": "HUB",
            "logisticsName": "HUB",
            "coElNo": f"RLATE{n}",
            "invtNo": row.invt_no,
            "agentCode": h["agentCode"],
            "agentName": h["agentName"],
            "billNo": parcel,
            "ieFlag": "I",
            "trafMode": "5",
            "trafName": "CZ",
            "portCode": row.customs_code,
            "reason": "退货",
            "country": h["country"],
            "voyageNo": "CZ1",
        }
        line = {k: first[k] for k in ("gnum", "gcode", "gname", "gmodel", "unit", "unit1")}
        return _one_message("CEB213Message", head, [{**line, "qty": qty, "qty1": qty}])

    qty = Decimal(str(first["qty"]))
    clearer = Clearer(cleared, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=day)
    clearer.clear_batch([("t.xml", _one_message("CEB215Message", tally, None))])
    with cleared.connect() as conn:
        assert (
            conn.execute(
                select(export_return_tally.c.status).where(export_return_tally.c.co_el_no == "TLATE1")
            ).scalar_one()
            == R.WAITING
        )
    clearer.clear_batch([("a1.xml", application(1, Decimal(1)))])
    clearer.clear_batch([("a2.xml", application(2, qty))])  # over: only qty − 1 is left
    statuses = {r["coElNo"]: r["status"] for r in _returns(cleared).to_dicts()}
    assert statuses["RLATE1"] == R.RELEASED and statuses["RLATE2"] == R.REFUSED
    if qty > 1:
        clearer.clear_batch([("a3.xml", application(3, qty - 1))])  # the parcel is tallied already
        assert {r["coElNo"]: r["status"] for r in _returns(cleared).to_dicts()}["RLATE3"] == R.RELEASED
    tallies = [e for e in _entries(cleared, "CEB216Message") if e["coElNo"] == "TLATE1"]
    assert sorted(e["returnStatus"] for e in tallies) == ["2", "399"]


def test_rebuild_forgets_returns_and_clearing_the_days_again_restores_them(
    cleared: Engine, corpus: Path, tmp_path: Path
) -> None:
    from cbec.store.maintenance import rebuild

    wanted = _manifest(corpus)["coElNo"].to_list()
    before = _returns(cleared).filter(pl.col("coElNo").is_in(wanted)).sort("coElNo")
    counts = rebuild(cleared)
    assert counts["export_return"] >= len(wanted) and counts["export_return_tally"] > 0
    assert _returns(cleared).height == 0
    with cleared.connect() as conn:  # the operator's site filing is input: kept
        assert repo.sites(conn)
    _clear_all(cleared, corpus, tmp_path / "outbox")
    after = _returns(cleared).filter(pl.col("coElNo").is_in(wanted)).sort("coElNo")
    assert after.equals(before)
