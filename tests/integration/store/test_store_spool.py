"""The intake spool: stored and committed before the acknowledgement, idempotent together with the inbox,
moved into the inbox under the id it was acknowledged with, and repaired after a crash between the moves."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from _store_testlib import message
from sqlalchemy import Engine, select

from cbec.store import Outcome, connect, inbox
from cbec.store import spool as spool_repo
from cbec.store.data_key import keyring_for
from cbec.store.schema import inbox as inbox_table
from cbec.store.schema import message_subscriber


@pytest.fixture
def main(tmp_path: Path) -> Engine:
    return connect(f"sqlite:///{tmp_path / 'cbec.db'}")


@pytest.fixture
def spool(main: Engine) -> Engine:
    engine = spool_repo.open_spool(main.url.render_as_string(hide_password=False))
    assert engine is not None
    return engine


def _sealed(
    main: Engine, guid: str, body: str = "", subscribers: dict[str, str] | None = None
) -> spool_repo.Spooled:
    plain = message(guid, body)
    raw, digest = inbox.pack(plain.raw, keyring_for(main))
    item = inbox.InboxItem(
        guid=guid,
        message_type=plain.message_type,
        raw=raw,
        sender=plain.sender,
        received_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        codec=inbox.SEALED,
        sha256=digest,
    )
    return spool_repo.Spooled(item, subscribers or {})


def _inbox_ids(main: Engine) -> dict[str, int]:
    with main.connect() as conn:
        return {g: int(i) for g, i in conn.execute(select(inbox_table.c.guid, inbox_table.c.id))}


def test_only_sqlite_files_have_a_spool(tmp_path: Path) -> None:
    assert spool_repo.spool_path(f"sqlite:///{tmp_path / 'x.db'}") == tmp_path / "x.db.intake"
    assert spool_repo.spool_path("sqlite://") is None
    assert spool_repo.spool_path("postgresql+psycopg://u@h/db") is None


def test_spooled_messages_reach_the_inbox_with_the_ids_acknowledged(main: Engine, spool: Engine) -> None:
    with main.begin() as conn:  # the inbox already holds a message: the spool's ids continue after it
        (earlier,) = inbox.accept(conn, [message("OLD-1")])
    outcomes = spool_repo.put(
        spool, main, [_sealed(main, "G-1", subscribers={"DXPENT0000000001": "RET"}), _sealed(main, "G-2")]
    )
    assert [o.outcome for o in outcomes] == [Outcome.NEW, Outcome.NEW]
    assert [o.id for o in outcomes] == [earlier.id + 1, earlier.id + 2]
    assert spool_repo.pending(spool) == 2
    assert "G-1" not in _inbox_ids(main)  # acknowledged from the spool, not yet in the inbox

    assert spool_repo.move(spool, main) == 2
    assert spool_repo.pending(spool) == 0
    ids = _inbox_ids(main)
    assert (ids["G-1"], ids["G-2"]) == (outcomes[0].id, outcomes[1].id)
    with main.connect() as conn:
        (row,) = inbox.by_ids(conn, [ids["G-1"]])
        subs = conn.execute(select(message_subscriber.c.dxp_address, message_subscriber.c.status)).all()
    assert row.status == inbox.ACCEPTED and b'guid="G-1"' in row.raw  # readable: sealed with the data key
    assert row.received_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert [tuple(s) for s in subs] == [("DXPENT0000000001", "RET")]
    assert spool_repo.move(spool, main) == 0


def test_repeats_and_conflicts_are_judged_against_spool_and_inbox(main: Engine, spool: Engine) -> None:
    (first,) = spool_repo.put(spool, main, [_sealed(main, "G-1", "a")])
    again, clash, inside = spool_repo.put(
        spool, main, [_sealed(main, "G-1", "a"), _sealed(main, "G-1", "b"), _sealed(main, "G-3")]
    )
    assert (again.outcome, again.id) == (Outcome.REPEAT, first.id)
    assert (clash.outcome, clash.id) == (Outcome.CONFLICT, first.id)
    assert inside.outcome is Outcome.NEW
    (twice,) = spool_repo.put(spool, main, [_sealed(main, "G-3")])
    assert twice.outcome is Outcome.REPEAT  # the same guid twice in one call: one row
    spool_repo.move(spool, main)
    after_move = spool_repo.put(spool, main, [_sealed(main, "G-1", "a"), _sealed(main, "G-1", "b")])
    assert [(o.outcome, o.id) for o in after_move] == [
        (Outcome.REPEAT, first.id),
        (Outcome.CONFLICT, first.id),
    ]
    assert spool_repo.pending(spool) == 0
    assert len(_inbox_ids(main)) == 2


def test_unsealed_messages_are_refused(main: Engine, spool: Engine) -> None:
    with pytest.raises(ValueError, match="sealed"):
        spool_repo.put(spool, main, [spool_repo.Spooled(message("G-1"), {})])
    assert spool_repo.pending(spool) == 0


def test_a_crash_between_the_two_commits_is_repaired_without_a_second_copy(
    main: Engine, spool: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_repo.put(spool, main, [_sealed(main, "G-1"), _sealed(main, "G-2")])

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("killed after the inbox commit")

    monkeypatch.setattr(spool_repo, "delete", crash)
    with pytest.raises(RuntimeError):
        spool_repo.move(spool, main)
    monkeypatch.undo()
    assert spool_repo.pending(spool) == 2 and set(_inbox_ids(main)) == {"G-1", "G-2"}
    spool_repo.move(spool, main)
    assert spool_repo.pending(spool) == 0
    assert sorted(_inbox_ids(main)) == ["G-1", "G-2"]


def test_a_reserved_id_taken_meanwhile_gets_a_new_one(main: Engine, spool: Engine) -> None:
    (spooled,) = spool_repo.put(spool, main, [_sealed(main, "G-1")])
    with main.begin() as conn:  # another writer (cbec clear on the same file) takes that id first
        (direct,) = inbox.accept(conn, [message("OTHER")])
    assert direct.id == spooled.id
    spool_repo.move(spool, main)
    ids = _inbox_ids(main)
    assert ids["OTHER"] == spooled.id and ids["G-1"] > spooled.id
