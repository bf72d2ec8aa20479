"""Migration 0015 on a populated database: the lists' waybill and order numbers are back-filled from the inbox
(encrypted messages included) exactly as the clearing step writes them, and a rebuild gives them again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect, current_revision, downgrade, head_revision, rebuild, reset, upgrade

CLEARED_AT = datetime(2026, 11, 11, 23, 0)
NUMBERS = ("logistics_no", "logistics_code", "order_no")
ROWS = "SELECT kind, guid, business_key, {} FROM document ORDER BY kind, guid".format(", ".join(NUMBERS))


def _clearer(engine: Engine, root: Path) -> Clearer:
    return Clearer(
        engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=root / "outbox",
        now=CLEARED_AT,
        buyer_secret=b"cbec list numbers test",
    )


def _rows(engine: Engine) -> list[tuple[str, str, str, str | None, str | None, str | None]]:
    with engine.connect() as conn:
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(text(ROWS))]


def test_upgrade_back_fills_the_numbers_of_stored_lists(db_url: str, tmp_path: Path) -> None:
    engine = connect(db_url)
    try:
        reset(engine)
        config = GeneratorConfig(parcels=40, seed=5, bonded_share=0.5, docs_per_message=(1, 6))
        write_corpus(tmp_path / "traffic", config, workers=1)
        _clearer(engine, tmp_path).clear_stream(iter_inputs(tmp_path / "traffic"), workers=0)
        written = _rows(engine)
        lists = [r for r in written if r[0] == "list"]
        assert len(lists) >= 30
        # the clearing step writes the numbers of lists, and of nothing else
        assert all(r[3] and r[4] and r[5] and r[2].endswith(f"|{r[5]}") for r in lists)
        assert all(r[3:] == (None, None, None) for r in written if r[0] != "list")
        with engine.connect() as conn:
            codecs = set(conn.execute(text("SELECT DISTINCT raw_codec FROM inbox")).scalars())
        # encrypted messages: revision 0016's downgrade turns them into the zlib-gcm the back-fill opens
        assert "zstd-gcm" in codecs

        downgrade(engine, "0014")
        columns = {c["name"] for c in inspect(engine).get_columns("document")}
        assert not columns & set(NUMBERS)
        with engine.begin() as conn:
            # a list whose message cannot be decoded any more keeps NULLs; the upgrade goes on
            inbox_id = conn.execute(
                text(
                    "INSERT INTO inbox (guid, message_type, received_at, sha256, raw, status) VALUES "
                    "('G-BROKEN', 'CEB621Message', :at, :sha, :raw, 'processed') RETURNING id"
                ),
                {"at": CLEARED_AT.isoformat(sep=" ") + "+00:00", "sha": "0" * 64, "raw": b"<x/>"},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO document (kind, guid, business_key, inbox_id, received_at, status, app_type)"
                    " VALUES ('list', 'D-BROKEN', 'E|BROKEN', :inbox_id, :at, 100, '1')"
                ),
                {"inbox_id": inbox_id, "at": CLEARED_AT.isoformat(sep=" ") + "+00:00"},
            )

        upgrade(engine)
        assert current_revision(engine) == head_revision()
        upgraded = _rows(engine)
        assert ("list", "D-BROKEN", "E|BROKEN", None, None, None) in upgraded
        assert [r for r in upgraded if r[1] != "D-BROKEN"] == written

        # replaying the inbox from scratch writes the same numbers again
        rebuild(engine)
        _clearer(engine, tmp_path).replay()
        replayed = [r for r in _rows(engine) if r[1] != "D-BROKEN"]
        assert replayed == written
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", ["0014"])
def test_downgrade_drops_the_numbers_and_their_indexes(engine: Engine, revision: str) -> None:
    downgrade(engine, revision)
    insp = inspect(engine)
    assert not {c["name"] for c in insp.get_columns("document")} & set(NUMBERS)
    assert not [i for i in insp.get_indexes("document") if i["name"].startswith("ix_document_list_")]
    upgrade(engine)
    assert {i["name"] for i in inspect(engine).get_indexes("document")} >= {
        "ix_document_list_logistics_no",
        "ix_document_list_order_no",
    }
