"""``clear_stream`` decodes small batches and clears them several at a time, as one batch.

The store must end as if those messages had come as one batch: the reference is the same messages cleared
with ``clear_batch``, ``BATCH * PER_COMMIT`` at a time (one transaction each), so the grouping is only a
matter of how the work is split, not of what is decided.  The corpus has repeat buyers (quota carried from
batch to batch), duplicates, documents arriving in later batches and the default planted faults; small
batches make every one of those cross a boundary, inside a group and between groups.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from cbec.engine.clear import Clearer, ClearSummary, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect

NOW = datetime(2026, 11, 12)
BATCH = 3
PER_COMMIT = 4
SECRET = b"pipelined-clearing-test-secret-0"
#: what the store holds after clearing, in an order that does not depend on timing
QUERIES = {
    "decisions": "SELECT list_key, invt_no, status, code, rule, reason_en FROM decision ORDER BY id",
    "documents": "SELECT kind, guid, business_key, status, app_type FROM document ORDER BY kind, guid",
    "quota": "SELECT buyer_key, year, used_fen FROM quota ORDER BY buyer_key, year",
    "movements": "SELECT buyer_key, year, list_key, kind, amount_fen FROM quota_movement ORDER BY id",
    "bills": "SELECT tax_no, invt_no, list_key, customs_tax_fen, vat_fen, ct_fen FROM tax_bill ORDER BY id",
    "receipts": "SELECT message_type, recipient, business_key, status FROM receipt ORDER BY id",
    "inbox": "SELECT guid, status FROM inbox ORDER BY id",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    folder = tmp_path_factory.mktemp("pipelined") / "in"
    write_corpus(folder, GeneratorConfig(parcels=900, seed=21, faults=dict(DEFAULT_FAULTS)), workers=1)
    return list(iter_inputs(folder))


def _clearer(root: Path) -> Clearer:
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    return Clearer(
        engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=root / "outbox",
        now=NOW,
        buyer_secret=SECRET,
    )


def _contents(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(text(q))] for name, q in QUERIES.items()}


def _one_after_the_other(
    named: list[tuple[str, bytes]], root: Path
) -> tuple[dict[str, list[Any]], ClearSummary]:
    clearer = _clearer(root)
    for start in range(0, len(named), BATCH * PER_COMMIT):
        clearer.clear_batch(named[start : start + BATCH * PER_COMMIT])
    clearer.flush()
    return _contents(clearer.engine), clearer.summary


def _grouped(named: list[tuple[str, bytes]], root: Path) -> tuple[dict[str, list[Any]], ClearSummary]:
    clearer = _clearer(root)
    clearer.clear_stream(named, batch_messages=BATCH, workers=0, batches_per_commit=PER_COMMIT)
    return _contents(clearer.engine), clearer.summary


def _same(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> None:
    for name in QUERIES:
        assert a[name] == b[name], name


def test_batches_cleared_together_equal_one_batch_of_them_all(
    corpus: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    expected, reference = _one_after_the_other(corpus, tmp_path / "a")
    got, summary = _grouped(corpus, tmp_path / "b")
    _same(expected, got)
    batches = -(-len(corpus) // BATCH)
    assert batches > 15
    assert summary.to_json() | {"seconds": 0} == reference.to_json() | {"seconds": 0}
    # the corpus did exercise what crosses a batch boundary
    assert summary.lists.get(100, 0) > 0 and summary.waiting >= 0 and summary.duplicates
    assert len({row[0] for row in got["movements"]}) < len(got["movements"])  # buyers who came back


def test_a_message_sent_again_in_the_next_batch_is_cleared_once(
    corpus: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    # the last message of the first batch comes again first in the second, which is taken in (its messages
    # stored) before the first is cleared: it must be seen as a repeat, not as a message left unprocessed
    named = [*corpus[:BATCH], corpus[BATCH - 1], *corpus[BATCH:]]
    expected, reference = _one_after_the_other(named, tmp_path / "a")
    got, summary = _grouped(named, tmp_path / "b")
    _same(expected, got)
    assert summary.repeated_messages == reference.repeated_messages == 1


def test_a_failed_group_is_cleared_whole_by_the_next_run(
    corpus: list[tuple[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group that fails is rolled back whole; its messages wait in the inbox, and the next run (as after
    a crash) clears them to the same end as an undisturbed run."""
    expected, _ = _one_after_the_other(corpus, tmp_path / "a")
    clearer = _clearer(tmp_path / "b")
    calls = 0
    clear_in = Clearer._clear_in

    def fail_in_the_second_group(self: Clearer, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("planted failure")
        return clear_in(self, *args)

    monkeypatch.setattr(Clearer, "_clear_in", fail_in_the_second_group)
    with pytest.raises(RuntimeError, match="planted failure"):
        clearer.clear_stream(corpus, batch_messages=BATCH, workers=0, batches_per_commit=PER_COMMIT)
    with clearer.engine.connect() as conn:
        written = conn.execute(text("SELECT messages FROM batch")).scalars().all()
        waiting = conn.execute(text("SELECT count(*) FROM inbox WHERE status = 'accepted'")).scalar_one()
    assert written == [BATCH * PER_COMMIT]  # the first group only, as one batch: none of the second's kept
    assert waiting >= BATCH * PER_COMMIT  # the second group's messages, taken in before it failed
    monkeypatch.undo()
    again = _clearer(tmp_path / "b")
    again.clear_stream(corpus, batch_messages=BATCH, workers=0, batches_per_commit=PER_COMMIT)
    _same(expected, _contents(again.engine))


def test_each_document_keeps_the_time_its_message_arrived(
    corpus: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    """Batches joined into one are cleared at the last one's time, but the expiry of an incomplete set runs
    from when its documents arrived: each document row carries its own message's inbox time."""
    clearer = _clearer(tmp_path)
    clearer.now = None  # the real clock: each batch is taken in at its own moment
    clearer.clear_stream(corpus, batch_messages=BATCH, workers=0, batches_per_commit=PER_COMMIT)
    with clearer.engine.connect() as conn:
        times = conn.execute(text("SELECT count(DISTINCT received_at) FROM inbox")).scalar_one()
        groups = conn.execute(text("SELECT count(*) FROM batch")).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM document")).scalar_one()
        other = conn.execute(
            text(
                "SELECT count(*) FROM document d JOIN inbox i ON i.id = d.inbox_id "
                "WHERE d.received_at != i.received_at"
            )
        ).scalar_one()
    assert times > groups  # the batches of a group did arrive at different times
    assert stored and other == 0
