"""Messages stored by a run that stopped before processing them are processed by the next run, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.columns import decode_batch
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store import inbox as inbox_repo
from cbec.store.schema import decision, inbox

NOW = datetime(2026, 11, 12)


def test_stored_but_unprocessed_messages_are_processed_on_the_next_run(tmp_path: Path) -> None:
    corpus = tmp_path / "in"
    write_corpus(corpus, GeneratorConfig(parcels=300, seed=3, faults=dict(DEFAULT_FAULTS)))
    files = list(iter_inputs(corpus))
    engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
    # the first run committed the inbox (step 1) for the first 10 messages and died before step 2
    meta = decode_batch([b for _, b in files[:10]]).messages
    with engine.begin() as conn:
        inbox_repo.accept(
            conn,
            [
                inbox_repo.InboxItem(
                    guid=meta["guid"][i],
                    message_type=meta["message_type"][i],
                    raw=files[i][1],
                    received_at=NOW.replace(tzinfo=UTC),
                )
                for i in range(10)
            ],
        )
    params, hs = default_parameters(), load_cbec_hs().frame()
    clearer = Clearer(engine, params=params, hs=hs, outbox=tmp_path / "outbox", now=NOW)
    # the sender retries everything; the first 10 messages also arrive twice in the same batch
    clearer.clear_batch(files[:10] + files)
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(inbox.c.status, func.count()).group_by(inbox.c.status)).all())
        decided = conn.execute(select(decision.c.list_key)).scalars().all()
    assert statuses == {"processed": len(files)}
    assert len(decided) == len(set(decided)) > 0
    assert clearer.summary.repeated_messages == 10
    # a third delivery of everything changes nothing
    clearer.clear_batch(files)
    with engine.connect() as conn:
        assert len(conn.execute(select(decision.c.list_key)).scalars().all()) == len(decided)
