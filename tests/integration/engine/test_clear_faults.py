"""Every fault the generator plants is caught by clearance with the right status and code.

Real components end to end: generated CEB XML on disk, the codec, the rules, the SQLite store, and the
receipts written as XML files — then the ground truth (the generator's manifest) is compared with what was
decided.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select

from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.decode import decode
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store.schema import decision, document

NOW = datetime(2026, 11, 12, 0, 0, 0)


@pytest.fixture(scope="module")
def cleared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Clearer]:
    root = tmp_path_factory.mktemp("clear")
    corpus = root / "in"
    # a higher fault rate than the default so every kind appears several times in a small corpus
    faults = {k: v * 3 for k, v in DEFAULT_FAULTS.items()}
    write_corpus(corpus, GeneratorConfig(parcels=1500, seed=11, faults=faults))
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    clearer = Clearer(
        engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=root / "outbox", now=NOW
    )
    files = list(iter_inputs(corpus))
    for i in range(0, len(files), 37):  # odd batch size: sets straddle batches
        clearer.clear_batch(files[i : i + 37])
    return corpus, root, clearer


def _receipts(outbox: Path) -> dict[tuple[str, str], list[dict[str, str]]]:
    """(message type, document guid) -> receipt heads found in the outbox files."""
    found: dict[tuple[str, str], list[dict[str, str]]] = {}
    for path in outbox.rglob("*.xml"):
        msg = decode(path.read_bytes())
        assert msg.ok, (path, msg.errors)
        for d in msg.documents:
            found.setdefault((msg.message_type, str(d.head.get("guid"))), []).append(
                {k: str(v) for k, v in d.head.items()}
            )
    return found


def test_every_planted_fault_is_caught(cleared: tuple[Path, Path, Clearer]) -> None:
    corpus, root, clearer = cleared
    manifest = pl.read_csv(
        corpus / "manifest.csv", schema_overrides={"expected_code": pl.String, "rule": pl.String}
    )
    assert set(manifest["fault"]) >= {
        "clean",
        "amount_mismatch",
        "payer_not_buyer",
        "bad_id",
        "off_list",
        "over_single_limit",
        "duplicate_list",
        "missing_payment",
        "over_quota",
    }
    receipts = _receipts(root / "outbox")
    with clearer.engine.connect() as conn:
        decided = {r.list_key: r for r in conn.execute(select(decision)).all()}
        lists = {r.guid: r for r in conn.execute(select(document).where(document.c.kind == "list")).all()}
    misses = []
    for row in manifest.iter_rows(named=True):
        answers = sorted(receipts.get(("CEB622Message", row["list_guid"]), []), key=lambda a: a["returnTime"])
        final = [a for a in answers if a["returnStatus"] != "2"]
        if row["expected_status"] == 2:
            ok = row["list_guid"] in lists and lists[row["list_guid"]].status == 2 and not final
        elif row["expected_status"] == 800:
            # released, or held for inspection / manual review by the random risk hook
            ok = bool(final) and final[-1]["returnStatus"] in {"800", "500", "300"}
            # the status chain: accepted (120) first; a release is concluded (399) before 800
            ok = ok and final[0]["returnStatus"] == "120"
            if final[-1]["returnStatus"] == "800":
                ok = ok and [a["returnStatus"] for a in final] == ["120", "399", "800"]
        else:
            ok = (
                bool(final)
                and final[-1]["returnStatus"] == "100"
                and final[-1]["returnInfo"].startswith(row["expected_code"])
            )
            if row["fault"] != "duplicate_list":
                d = decided[row["list_key"]]
                ok = ok and d.code == row["expected_code"] and d.rule == row["rule"]
        if not ok:
            misses.append((row, answers))
    assert not misses, misses[:5]


def test_matched_documents_get_their_receipts(cleared: tuple[Path, Path, Clearer]) -> None:
    _corpus, root, _clearer = cleared
    receipts = _receipts(root / "outbox")
    kinds = Counter(t for t, _ in receipts)
    assert kinds["CEB312Message"] and kinds["CEB412Message"] and kinds["CEB512Message"]
    assert kinds["CEB816Message"]  # e-tax bills for the lists that entered customs' system
    statuses = Counter(
        a["returnStatus"] for (t, _), answers in receipts.items() if t == "CEB312Message" for a in answers
    )
    assert statuses["120"] > 0  # matched orders


def test_clearing_twice_changes_nothing(cleared: tuple[Path, Path, Clearer]) -> None:
    corpus, root, clearer = cleared
    with clearer.engine.connect() as conn:
        before = conn.execute(select(decision.c.list_key, decision.c.status)).all()
    again = Clearer(
        clearer.engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=root / "outbox2",
        now=NOW,
    )
    files = list(iter_inputs(corpus))
    again.clear_batch(files)
    assert again.summary.repeated_messages == len(files)
    assert again.summary.parcels == 0
    with clearer.engine.connect() as conn:
        assert conn.execute(select(decision.c.list_key, decision.c.status)).all() == before
    assert json.dumps(again.summary.to_json())  # serialisable


def test_incomplete_sets_expire_after_a_restart(cleared: tuple[Path, Path, Clearer]) -> None:
    corpus, root, clearer = cleared
    manifest = pl.read_csv(
        corpus / "manifest.csv", schema_overrides={"expected_code": pl.String, "rule": pl.String}
    )
    missing = set(manifest.filter(pl.col("fault") == "missing_payment")["list_key"])
    # a new process: the waiting sets are rebuilt from the inbox; four days later they have expired
    later = Clearer(
        clearer.engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=root / "outbox3",
        now=datetime(2026, 11, 16),
    )
    assert set(later.waiting.lists["list_key"]) == missing
    later.clear_batch([])
    assert later.summary.refusals == {("E", "-621003"): len(missing)}
    with clearer.engine.connect() as conn:
        rows = conn.execute(select(decision).where(decision.c.list_key.in_(missing))).all()
    assert {r.code for r in rows} == {"-621003"}
    assert all("支付单" in r.reason_zh and "payment" in r.reason_en for r in rows)


def test_replaying_the_inbox_gives_the_same_decisions(tmp_path: Path) -> None:
    from cbec.store import rebuild

    corpus = tmp_path / "in"
    write_corpus(
        corpus, GeneratorConfig(parcels=600, seed=5, faults={k: v * 3 for k, v in DEFAULT_FAULTS.items()})
    )
    engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
    first = Clearer(engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=NOW)
    files = list(iter_inputs(corpus))
    for i in range(0, len(files), 25):
        first.clear_batch(files[i : i + 25])

    def snapshot() -> list[tuple[str, int, str | None, str, str | None]]:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    decision.c.list_key,
                    decision.c.status,
                    decision.c.code,
                    decision.c.rule,
                    decision.c.invt_no,
                )
            ).all()
        return sorted((r[0], r[1], r[2], r[3], r[4]) for r in rows)

    before = snapshot()
    assert before
    rebuild(engine)
    assert snapshot() == []
    again = Clearer(engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=NOW)
    again.replay(batch_messages=25)
    assert snapshot() == before
