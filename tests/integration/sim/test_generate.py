"""The traffic generator: what it writes is valid CEB, consistent across the four documents of a parcel,
faithful to the planted faults, and the same for the same seed however many processes write it."""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest

from cbec.messages.columns import decode_batch
from cbec.messages.decode import decode
from cbec.messages.safe_xml import parse_only
from cbec.messages.signature import verify
from cbec.rules.resident_id import valid_expr
from cbec.sim.generate import (
    ANNUAL_LIMIT_FEN,
    DEFAULT_FAULTS,
    IMPORT_TYPES,
    GeneratorConfig,
    generate_corpus,
    judge_quota,
    plan,
    write_corpus,
)

FAULTS = {k: v * 4 for k, v in DEFAULT_FAULTS.items()}
CONFIG = GeneratorConfig(parcels=1600, seed=3, faults=FAULTS, chunk_parcels=500)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "corpus"
    write_corpus(out, CONFIG, workers=1)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.xml"))}


def _unsigned(data: bytes) -> bytes:
    """The message without its signature (each run signs with a key of its own)."""
    start = data.find(b"<ds:Signature")
    return data if start < 0 else data[:start] + data[data.index(b"</ds:Signature>") + 15 :]


@pytest.fixture(scope="module")
def tables(corpus: Path) -> dict[str, pl.DataFrame]:
    batch = decode_batch(list(_files(corpus).values()))
    assert batch.findings.height == 0, batch.findings.head()
    manifest = pl.read_csv(
        corpus / "manifest.csv", schema_overrides={"expected_code": pl.String, "rule": pl.String}
    )
    return {
        "messages": batch.messages,
        "order": batch.table("CEB311Message", "OrderHead"),
        "order_lines": batch.table("CEB311Message", "OrderList"),
        "payment": batch.table("CEB411Message", "PaymentHead"),
        "waybill": batch.table("CEB511Message", "LogisticsHead"),
        "list": batch.table("CEB621Message", "InventoryHead"),
        "list_lines": batch.table("CEB621Message", "InventoryList"),
        "manifest": manifest,
    }


def test_files_are_numbered_by_arrival_across_types_without_gaps(corpus: Path) -> None:
    names = sorted(p.name for mtype in IMPORT_TYPES for p in (corpus / mtype).glob("*.xml"))
    assert names == [f"{k:08d}.xml" for k in range(len(names))]
    assert (corpus / "manifest.csv").is_file()


def test_some_batches_arrive_out_of_order(corpus: Path) -> None:
    # the arrival order is the file names' order: in most batches orders come first, in some lists do
    arrival = sorted((p.name, mtype) for mtype in IMPORT_TYPES for p in (corpus / mtype).glob("*.xml"))
    follows = Counter((a[1], b[1]) for a, b in pairwise(arrival) if a[1] != b[1])
    assert follows[("CEB311Message", "CEB411Message")] > follows[("CEB621Message", "CEB511Message")] > 0


def test_a_sample_of_each_type_validates_against_the_xsd(corpus: Path, xsd_dir: Path) -> None:
    from cbec.messages.xsd import validate_bytes

    for mtype in IMPORT_TYPES:
        paths = sorted((corpus / mtype).glob("*.xml"))
        for path in [*paths[:3], *paths[-3:]]:
            data = path.read_bytes()
            assert validate_bytes(data, "import") == [], path
            msg = decode(data)
            assert msg.ok and not msg.warnings, (path, msg.errors, msg.warnings)


def test_every_list_message_is_signed_and_the_signature_holds(corpus: Path) -> None:
    paths = sorted((corpus / "CEB621Message").glob("*.xml"))
    assert paths
    for path in paths:
        result = verify(parse_only(path.read_bytes()))
        assert result.valid, (path, result.reason)


def test_messages_hold_1_to_100_documents_of_one_sender(tables: dict[str, pl.DataFrame]) -> None:
    messages = tables["messages"]
    assert messages["documents"].min() >= 1 and messages["documents"].max() <= 100  # type: ignore[operator]
    roles = {"order": "ebpCode", "payment": "payCode", "waybill": "logisticsCode", "list": "agentCode"}
    for name, role in roles.items():
        senders = tables[name].join(messages.select("_msg", "copCode"), on="_msg")
        assert (senders[role] == senders["copCode"]).all(), name
        assert senders.group_by("_msg").agg(pl.col(role).n_unique())[role].max() == 1


def test_the_four_documents_of_a_parcel_agree(tables: dict[str, pl.DataFrame]) -> None:
    order, payment, waybill = tables["order"], tables["payment"], tables["waybill"]
    lists = tables["list"].unique("orderNo")  # duplicates are copies
    faults = (
        tables["manifest"]
        .with_columns(pl.col("list_key").str.split("|").list.get(1).alias("orderNo"))
        .filter(pl.col("fault") != "duplicate_list")
    )
    joined = (
        order.join(faults.select("orderNo", "fault"), on="orderNo")
        .join(payment, on="orderNo", how="left", suffix="_pay")
        .join(waybill, on="orderNo", suffix="_way")
        .join(lists, on="orderNo", suffix="_list")
    )
    assert joined.height == order.height == waybill.height == lists.height == CONFIG.parcels
    # money: paid = goods + freight + tax; the lines add up to the goods
    assert (joined["acturalPaid"] == joined["goodsValue"] + joined["freight"] + joined["taxTotal"]).all()
    line_sums = tables["order_lines"].group_by("_msg", "_doc").agg(pl.col("totalPrice").sum().alias("sum"))
    heads = order.join(line_sums, on=["_msg", "_doc"])
    assert (heads["sum"] == heads["goodsValue"]).all()
    lines = tables["order_lines"]
    assert (lines["qty"] * lines["price"] == lines["totalPrice"]).all()
    # the same buyer, logistics number, freight on every document
    assert (joined["buyerIdNumber"] == joined["buyerIdNumber_list"]).all()
    assert (joined["logisticsNo"] == joined["logisticsNo_list"]).all()
    assert (joined["freight"] == joined["freight_way"]).all()
    assert (joined["weight"] == joined["grossWeight"]).all()
    assert (joined["ebpCode"] == joined["ebpCode_list"]).all()
    paid = joined.filter(pl.col("guid_pay").is_not_null())
    ok_amount = paid.filter(pl.col("fault") != "amount_mismatch")
    assert (ok_amount["amountPaid"] == ok_amount["acturalPaid"]).all()
    mismatch = paid.filter(pl.col("fault") == "amount_mismatch")
    assert mismatch.height and (mismatch["amountPaid"] == mismatch["acturalPaid"] + 1).all()
    same_payer = paid.filter(pl.col("fault") != "payer_not_buyer")
    assert (same_payer["payerIdNumber"] == same_payer["buyerIdNumber"]).all()
    other = paid.filter(pl.col("fault") == "payer_not_buyer")
    assert other.height and (other["payerIdNumber"] != other["buyerIdNumber"]).all()
    # 1210 lists carry the bonded zone, 9610 lists do not
    bonded = lists.filter(pl.col("tradeMode") == "1210")
    assert (
        bonded["emsNo"].null_count() == 0
        and lists.filter(pl.col("tradeMode") == "9610")["emsNo"].null_count()
    )
    assert 0.3 < bonded.height / lists.height < 0.5


def test_planted_faults_are_in_the_documents(tables: dict[str, pl.DataFrame]) -> None:
    manifest = tables["manifest"].with_columns(pl.col("list_key").str.split("|").list.get(1).alias("orderNo"))
    of = {f: set(manifest.filter(pl.col("fault") == f)["orderNo"]) for f in manifest["fault"].unique()}
    order, lists, payment = tables["order"], tables["list"], tables["payment"]
    assert set(payment["orderNo"]) == set(order["orderNo"]) - of["missing_payment"]
    twice = lists.group_by("orderNo").len().filter(pl.col("len") == 2)
    assert set(twice["orderNo"]) == of["duplicate_list"]
    assert lists.height == CONFIG.parcels + len(of["duplicate_list"])
    invalid = set(order.filter(~valid_expr("buyerIdNumber"))["orderNo"])
    assert invalid == of["bad_id"]
    over = set(order.filter(pl.col("goodsValue") > 5000)["orderNo"])
    assert of["over_single_limit"] <= over
    from cbec.params.hs import load_cbec_hs

    off_codes = set(load_cbec_hs().frame().filter(~pl.col("positive_list").cast(pl.Boolean))["hs10"])
    lines = tables["list_lines"].join(lists.select("_msg", "_doc", "orderNo"), on=["_msg", "_doc"])
    off = set(lines.filter(pl.col("gcode").is_in(off_codes))["orderNo"])
    assert off == of["off_list"]
    # ordinary baskets stay within CNY 4,900 unless a single item costs more
    ordinary = order.filter(~pl.col("orderNo").is_in(of["over_single_limit"] | of["over_quota"]))
    ordinary = ordinary.filter(~pl.col("orderNo").is_in(of.get("quota_within", set())))
    lines_per = (
        tables["order_lines"]
        .group_by("_msg", "_doc")
        .agg(pl.len().alias("n"), pl.col("qty").max().alias("qty"))
    )
    big = ordinary.join(lines_per, on=["_msg", "_doc"]).filter(pl.col("goodsValue") > 4900)
    assert ((big["n"] == 1) & (big["qty"] == 1)).all()


def test_manifest_rows_and_expected_answers(tables: dict[str, pl.DataFrame]) -> None:
    manifest = tables["manifest"]
    assert manifest.columns == ["list_key", "list_guid", "fault", "expected_status", "expected_code", "rule"]
    assert set(manifest["list_guid"]) == set(tables["list"]["guid"])
    assert set(manifest["fault"]) == {*FAULTS, "clean", "quota_within"}
    expected = {
        (r["fault"], r["expected_status"], r["expected_code"], r["rule"])
        for r in manifest.unique("fault").iter_rows(named=True)
    }
    assert ("over_quota", 100, "-621018", "Q") in expected
    assert ("missing_payment", 2, None, None) in expected
    assert ("clean", 800, None, None) in expected and ("quota_within", 800, None, None) in expected


def test_fault_rates_and_returning_buyers_follow_the_config() -> None:
    config = GeneratorConfig(parcels=200_000, seed=9, faults=dict(DEFAULT_FAULTS))
    chunks = plan(config)
    parcels = pl.concat([c.parcels for c in chunks])
    assert parcels["n"].to_list() == list(range(1, config.parcels + 1))
    shares = dict(parcels["fault"].value_counts(normalize=True).iter_rows())
    for fault, share in DEFAULT_FAULTS.items():
        assert abs(shares[fault] - share) < 0.1 * share + 0.0005, fault
    ordinary = parcels.filter(~pl.col("whale"))
    returning = 1 - ordinary["buyer"].n_unique() / ordinary.height
    assert abs(returning - config.repeat_buyer_share) < 0.01
    sizes = pl.concat([c.batches for c in chunks])["size"]
    assert sizes.min() >= 1 and sizes.max() <= 100 and 45 < sizes.mean() < 56  # type: ignore[operator]
    assert all(c.parcels.height >= config.chunk_parcels for c in chunks[:-1])
    assert sum(c.files["CEB311Message"] for c in chunks) == sizes.len()


def test_the_quota_is_judged_over_the_day_in_arrival_order() -> None:
    fen = 4_500_00
    rows = [("a", "clean", 20_000_00), ("w", "over_quota", fen)] + [("w", "over_quota", fen)] * 6
    rows += [("a", "clean", 7_000_00), ("a", "bad_id", 1_00), ("a", "clean", 6_000_00)]
    lists = pl.DataFrame(
        {
            "list_key": [f"k{i}" for i in range(len(rows))],
            "list_guid": [f"g{i}" for i in range(len(rows))],
            "fault": [r[1] for r in rows],
            "buyer_id": [r[0] for r in rows],
            "dutiable": [r[2] for r in rows],
        }
    )
    judged = judge_quota(lists)["fault"].to_list()
    within = ANNUAL_LIMIT_FEN // fen  # five fit, the sixth and seventh do not
    assert judged[1:8] == ["quota_within"] * within + ["over_quota"] * (7 - within)
    # 20,000 + 7,000 is over; the refused 7,000 does not count, so 6,000 still fits
    assert (
        judged[0] == "clean" and judged[8] == "over_quota" and judged[9] == "bad_id" and judged[10] == "clean"
    )


def test_same_seed_same_corpus(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_corpus(again, CONFIG, workers=1)
    first, second = _files(corpus), _files(again)
    assert first.keys() == second.keys()
    assert all(_unsigned(first[k]) == _unsigned(second[k]) for k in first)
    assert (corpus / "manifest.csv").read_bytes() == (again / "manifest.csv").read_bytes()
    other = tmp_path / "other"
    write_corpus(other, GeneratorConfig(parcels=300, seed=4, faults=FAULTS, chunk_parcels=500), workers=1)
    assert (other / "manifest.csv").read_bytes() != (corpus / "manifest.csv").read_bytes()


@pytest.mark.slow
def test_two_processes_write_the_same_corpus(corpus: Path, tmp_path: Path) -> None:
    parallel = tmp_path / "parallel"
    summary = generate_corpus(parallel, CONFIG, workers=2)
    assert summary.workers == 2 and summary.parcels == CONFIG.parcels
    first, second = _files(corpus), _files(parallel)
    assert first.keys() == second.keys()
    assert all(_unsigned(first[k]) == _unsigned(second[k]) for k in first)
    assert (corpus / "manifest.csv").read_bytes() == (parallel / "manifest.csv").read_bytes()
    assert summary.bytes == sum(len(b) for b in second.values())


def test_cli_generate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cbec.cli import app

    result = CliRunner().invoke(
        app, ["generate", "--parcels", "120", "--out", str(tmp_path / "t"), "--faults"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["parcels"] == 120 and summary["parcels_per_second"] > 0
    assert set(summary["files"]) == set(IMPORT_TYPES)
    assert (tmp_path / "t" / "manifest.csv").is_file()
