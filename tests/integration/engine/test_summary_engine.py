"""The monthly summary declaration end to end: generated export traffic cleared to 899 through arrivals and
departures, summarised into stored applications — as the rule says, idempotently, late lists into a
supplementary application and never twice — and ``cbec summary`` with its CSV, Excel and XML outputs.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Connection, Engine, func, select
from typer.testing import CliRunner

from cbec.engine import summary as S
from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.spec import message_spec
from cbec.messages.xsd import validate_bytes, xsd_available
from cbec.params.dated import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rules.summary import summarise_period
from cbec.sim.exports import ExportConfig, generate_exports, write_exports
from cbec.store import connect
from cbec.store import summaries as repo
from cbec.store.export_lists import cleared_lists
from cbec.store.schema import (
    export_list,
    summary_application,
    summary_declaration,
    summary_declaration_line,
    summary_list_line,
)

NOW = datetime(2026, 11, 11, 23, 0)
FILED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PERIOD = "2026-11"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("summary")
    write_exports(generate_exports(ExportConfig(parcels=80, seed=5, faults={})), root / "month")
    write_exports(generate_exports(ExportConfig(parcels=6, seed=17, faults={})), root / "late")
    return root / "month", root / "late"


def _clear(engine: Engine, corpus: Path, outbox: Path, now: datetime) -> None:
    clearer = Clearer(engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=outbox, now=now)
    clearer.clear_stream(iter_inputs(corpus), batch_messages=120)


@pytest.fixture(scope="module")
def month_db(corpora: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the month cleared (made once; each test works on a copy)."""
    root = tmp_path_factory.mktemp("month-db")
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    _clear(engine, corpora[0], root / "outbox", NOW)
    engine.dispose()
    return root / "cbec.db"


@pytest.fixture
def cleared(month_db: Path, tmp_path: Path) -> Engine:
    # the whole folder: the data key of a SQLite store lives beside its file
    shutil.copytree(month_db.parent, tmp_path / "db")
    return connect(f"sqlite:///{tmp_path / 'db' / 'cbec.db'}")


def _snapshot(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            t.name: sorted(tuple(str(v) for v in r) for r in conn.execute(select(t)))
            for t in (summary_application, summary_declaration, summary_declaration_line, summary_list_line)
        }


def _rule_summary(engine: Engine) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    start, end = S.period_window(PERIOD)
    with engine.connect() as conn:
        heads, lines = cleared_lists(conn, start.astimezone(UTC), end.astimezone(UTC))
    result = summarise_period(heads.rename({"clearedAt": "cleared_at"}), lines, PERIOD)
    return result.declarations, result.declaration_lines, result.mapping


def test_the_stored_declarations_are_the_rules(cleared: Engine) -> None:
    run = S.summarise(cleared, PERIOD, by="test", now=FILED)
    assert run.created and len(run.created) == len(run.applications)
    assert {a["supplement"] for a in run.applications} == {0}
    decl, lines, mapping = _rule_summary(cleared)
    with cleared.connect() as conn:
        stored = repo.load_summary(conn, [a["id"] for a in run.applications])
    keys = ["ebcCode", "supplement", "declNo"]
    cols = [*keys, "trafMode", "arrivalCountry", "portCode", "tradeMode", "lists", "lines", "grossWeight"]
    assert stored.declarations.select(cols).sort(keys).equals(decl.select(cols).sort(keys))
    lcols = [
        *keys,
        "gseqno",
        "destinationCountry",
        "gcode",
        "currency",
        "qty1",
        "unit1",
        "totalPrice",
        "lines",
    ]
    assert (
        stored.declaration_lines.select(lcols)
        .sort([*keys, "gseqno"])
        .equals(lines.select(lcols).sort([*keys, "gseqno"]))
    )
    mcols = ["invtNo", "gnum", *keys, "gseqno"]
    assert (
        stored.mapping.select(mcols)
        .sort("invtNo", "gnum")
        .equals(mapping.select(mcols).sort("invtNo", "gnum"))
    )
    # the simplified (A) lists are left out, every B list is in exactly one application
    with cleared.connect() as conn:
        flags = dict(conn.execute(select(export_list.c.invt_no, export_list.c.statistics_flag)).all())
    summarised = set(stored.mapping["invtNo"].to_list())
    assert summarised and all(flags[i] == "B" for i in summarised)
    assert set(run.excluded.filter(pl.col("reason") == "simplified")["invtNo"].to_list()) == {
        i for i, f in flags.items() if f == "A" and i in set(run.excluded["invtNo"].to_list())
    }
    # numbers: one sumNo per application, one declSeqNo per declaration, the due date of the period
    assert len({a["sum_no"] for a in run.applications}) == len(run.applications)
    assert stored.declarations["declSeqNo"].n_unique() == stored.declarations.height
    assert {a["due_date"] for a in run.applications} == {"2026-12-15"}
    assert not any(S.is_late(a["due_date"], a["created_at"], FILED) for a in run.applications)


def test_summarising_twice_changes_nothing(cleared: Engine) -> None:
    first = S.summarise(cleared, PERIOD, by="test", now=FILED)
    before = _snapshot(cleared)
    again = S.summarise(cleared, PERIOD, by="test", now=FILED + timedelta(days=1))
    assert again.created == []
    assert [a["sum_no"] for a in again.applications] == [a["sum_no"] for a in first.applications]
    assert set(again.excluded["reason"].to_list()) <= {"simplified", "summarised"}
    assert _snapshot(cleared) == before


def _lists_in_two_applications(conn: Connection) -> list[str]:
    """Lists whose lines went into more than one application (must be none)."""
    return list(
        conn.scalars(
            select(summary_list_line.c.invt_no)
            .group_by(summary_list_line.c.invt_no)
            .having(func.count(summary_list_line.c.application_id.distinct()) > 1)
        )
    )


def test_a_list_cleared_late_goes_into_a_supplementary_application_once(
    cleared: Engine, corpora: tuple[Path, Path], tmp_path: Path
) -> None:
    first = S.summarise(cleared, PERIOD, by="test", now=FILED)
    first_lists = set()
    with cleared.connect() as conn:
        first_lists = set(conn.scalars(select(summary_list_line.c.invt_no)))
    # more parcels of the same month leave after the month was summarised (a late departure, a late 899)
    _clear(cleared, corpora[1], tmp_path / "outbox-late", NOW + timedelta(days=2))
    late = S.summarise(cleared, PERIOD, by="test", now=FILED + timedelta(days=20))
    assert late.created, "the late lists made no application"
    by_ebc = {a["ebc_code"] for a in first.applications}
    for app in late.created:
        assert app["supplement"] == (1 if app["ebc_code"] in by_ebc else 0)
        assert S.is_late(app["due_date"], app["created_at"], FILED)  # filed 2026-12-23, after the 15th
    assert any(a["supplement"] == 1 for a in late.created)
    with cleared.connect() as conn:
        new_ids = [a["id"] for a in late.created]
        new_lists = set(
            conn.scalars(
                select(summary_list_line.c.invt_no).where(summary_list_line.c.application_id.in_(new_ids))
            )
        )
        split = _lists_in_two_applications(conn)
    assert new_lists and not (new_lists & first_lists)
    assert split == []
    # and a third run still changes nothing
    before = _snapshot(cleared)
    assert S.summarise(cleared, PERIOD, by="test", now=FILED + timedelta(days=21)).created == []
    assert _snapshot(cleared) == before


def test_a_consignors_own_scope_summarises_only_its_lists(cleared: Engine) -> None:
    with cleared.connect() as conn:
        ebc = conn.execute(
            select(export_list.c.ebc_code).where(
                export_list.c.status == 899, export_list.c.statistics_flag == "B"
            )
        ).scalar()
    assert ebc
    run = S.summarise(cleared, PERIOD, scope=repo.SummaryScope(codes=frozenset({ebc})), by=ebc, now=FILED)
    assert run.created and {a["ebc_code"] for a in run.applications} <= {ebc} | {
        a["ebc_code"] for a in run.applications if a["agent_code"] == ebc
    }
    everyone = S.summarise(cleared, PERIOD, by="admin", now=FILED)
    assert all(a["supplement"] == 0 for a in everyone.applications)  # the others' first applications


def test_bad_periods_and_empty_months_are_refused_and_write_nothing(cleared: Engine) -> None:
    for period, code in (
        ("2026-13", "bad-period"),
        ("202611", "bad-period"),
        ("2026-09", "nothing-cleared"),
        ("1899-01", "no-deadline"),
        ("２０２６-11", "bad-period"),
    ):
        with pytest.raises(S.SummaryError) as exc:
            S.summarise(cleared, period, by="test", now=FILED)
        assert exc.value.code == code and exc.value.zh and exc.value.en
    assert all(rows == [] for rows in _snapshot(cleared).values())


def _cli(*args: str) -> tuple[int, str, str]:
    from cbec.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cbec_summary_prints_and_exports(cleared: Engine, tmp_path: Path) -> None:
    url = str(cleared.url)
    out = tmp_path / "out"
    code, stdout, stderr = _cli(
        "summary",
        "--period",
        PERIOD,
        "--db",
        url,
        "--csv",
        str(out / "csv"),
        "--xlsx",
        str(out / "summary.xlsx"),
        "--xml",
        str(out / "xml"),
        "--at",
        "2026-12-16T10:00:00+08:00",
        "--json",
    )
    assert code == 0, stderr
    body = json.loads(stdout)
    assert body["period"] == PERIOD and body["due"]["date"] == "2026-12-15"
    assert body["created"] and len(body["created"]) == len(body["applications"])
    assert all(a["late"] for a in body["applications"])  # filed on the 16th
    n_decl = sum(len(a["declarations"]) for a in body["applications"])
    # CSV: every declaration, line and list line
    decl_csv = pl.read_csv(out / "csv" / f"summary-{PERIOD}-declarations.csv")
    map_csv = pl.read_csv(out / "csv" / f"summary-{PERIOD}-mapping.csv")
    assert decl_csv.height == n_decl
    with cleared.connect() as conn:
        assert (
            map_csv.height == conn.execute(select(func.count()).select_from(summary_list_line)).scalar_one()
        )
    # Excel: the same tables
    from openpyxl import load_workbook

    wb = load_workbook(out / "summary.xlsx", read_only=True)
    assert wb.sheetnames[:3] == ["报关单 Declarations", "表体 Lines", "清单对应 Mapping"]
    assert len(list(wb["报关单 Declarations"].iter_rows())) == n_decl + 1
    # XML: per application a CEB701, a CEB702 and the CEB792 results, XSD-valid, the numbers as stored
    files = sorted((out / "xml").iterdir())
    kinds = {re.search(r"CEB\d{3}", f.name)[0] for f in files}  # type: ignore[index]
    assert kinds == {"CEB701", "CEB702", "CEB792"}
    assert {f.name.split("-")[0] for f in files} == set(body["created"])
    if xsd_available():
        for f in files:
            mtype = re.search(r"CEB\d{3}", f.name)[0] + "Message"  # type: ignore[index]
            assert not validate_bytes(f.read_bytes(), message_spec(mtype).family), f.name
    text = b"".join(f.read_bytes() for f in files if "CEB792" in f.name).decode()
    for a in body["applications"]:
        assert f"<ceb:sumNo>{a['sumNo']}</ceb:sumNo>" in text
    # again: the same applications, nothing new; tables for people
    code, stdout, stderr = _cli("summary", "--period", PERIOD, "--db", url)
    assert code == 0, stderr
    assert "nothing changed" in stdout and body["applications"][0]["sumNo"][:8] in stdout


def test_cbec_summary_refuses_bad_input_in_both_languages(cleared: Engine) -> None:
    url = str(cleared.url)
    code, _, stderr = _cli("summary", "--period", "2026-1", "--db", url)
    assert code == 2 and "YYYY-MM" in stderr and "汇总月份" in stderr
    code, _, stderr = _cli("summary", "--period", "2026-08", "--db", url)
    assert code == 2 and "no export list was cleared" in stderr and "没有可汇总" in stderr
    assert all(rows == [] for rows in _snapshot(cleared).values())


def test_cbec_export_true_up_records_once_and_refuses_in_both_languages(cleared: Engine) -> None:
    from cbec.store.schema import export_refund_line

    with cleared.connect() as conn:
        row = conn.execute(
            select(export_refund_line).where(export_refund_line.c.status == "provisional").order_by("invt_no")
        ).first()
    assert row is not None, "no pre-refunded 9810 line in the month"
    url = str(cleared.url)
    args = ["export", "true-up", row.invt_no, str(row.gnum), "--kind", "returned", "--qty", "1"]
    code, stdout, stderr = _cli(*args, "--event-id", "ret-1", "--db", url, "--json")
    assert code == 0, stderr
    first = json.loads(stdout)
    assert first["recorded"] is True and first["line"]["returned"] == "1"
    assert first["repayFen"] > 0
    code, stdout, _ = _cli(*args, "--event-id", "ret-1", "--db", url, "--json")
    assert code == 0 and json.loads(stdout)["recorded"] is False
    assert json.loads(stdout)["line"]["returned"] == "1"  # one effect
    code, _, stderr = _cli(
        "export",
        "true-up",
        row.invt_no,
        "999",
        "--kind",
        "sold",
        "--qty",
        "1",
        "--event-id",
        "x",
        "--db",
        url,
    )
    assert code == 2 and "HWC-YT" in stderr and "不是海外仓预退" in stderr


def test_on_postgresql_late_lists_go_to_a_supplement_and_racing_runs_never_take_a_list_twice(
    corpora: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tests.integration.service.conftest import TEST_SECRETS, database_url

    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    engine = connect(database_url("postgresql", tmp_path))
    try:
        _clear(engine, corpora[0], tmp_path / "outbox", NOW)
        # two runs at once: one stores the month, the other waits on it and then writes nothing
        results: list[object] = []

        def run() -> None:
            try:
                results.append(S.summarise(engine, PERIOD, by="race", now=FILED))
            except S.SummaryError as exc:
                results.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        made = [r for r in results if isinstance(r, S.SummaryRun) and r.created]
        others = [r for r in results if r not in made]
        assert len(made) == 1 and len(others) == 1
        other = others[0]
        assert (isinstance(other, S.SummaryError) and other.code == "concurrent") or (
            isinstance(other, S.SummaryRun) and other.created == []
        )
        before = _snapshot(engine)
        assert S.summarise(engine, PERIOD, by="test", now=FILED).created == []
        assert _snapshot(engine) == before
        # a late list: into a supplementary application, once
        _clear(engine, corpora[1], tmp_path / "outbox-late", NOW + timedelta(days=2))
        late = S.summarise(engine, PERIOD, by="test", now=FILED + timedelta(days=20))
        first = {a["ebc_code"] for a in made[0].created}  # type: ignore[attr-defined]
        assert late.created and any(a["supplement"] == 1 for a in late.created)
        assert all(a["supplement"] == (1 if a["ebc_code"] in first else 0) for a in late.created)
        with engine.connect() as conn:
            assert _lists_in_two_applications(conn) == []
            summarised = set(conn.scalars(select(summary_list_line.c.invt_no)))
            cleared_b = set(
                conn.scalars(
                    select(export_list.c.invt_no).where(
                        export_list.c.status == 899, export_list.c.statistics_flag == "B"
                    )
                )
            )
        assert summarised == cleared_b  # every cleared B list, once
    finally:
        engine.dispose()


def test_a_rebuild_and_replay_keeps_the_applications_and_their_lists(cleared: Engine) -> None:
    from cbec.store.maintenance import rebuild

    S.summarise(cleared, PERIOD, by="test", now=FILED)
    before = _snapshot(cleared)
    rebuild(cleared)
    Clearer(cleared, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=NOW).replay(
        batch_messages=120
    )
    assert _snapshot(cleared) == before
    assert S.summarise(cleared, PERIOD, by="test", now=FILED).created == []  # the same lists, not again
    with cleared.connect() as conn:
        mapped = set(conn.scalars(select(summary_list_line.c.invt_no)))
        known = set(conn.scalars(select(export_list.c.invt_no).where(export_list.c.status == 899)))
    assert mapped <= known
