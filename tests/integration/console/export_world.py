"""A store for the export and summary pages: the demo cast filed, a day of export traffic (with refused lists)
cleared to 899, the month summarised, more parcels of the month cleared afterwards and summarised into
supplementary applications, and a 9810 pre-refunded line trued up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select

from cbec.engine import prerefund
from cbec.engine import summary as S
from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.service.cast import file_cast
from cbec.sim.exports import ExportConfig, generate_exports, write_exports
from cbec.store import connect
from cbec.store.schema import export_refund_line

NOW = datetime(2026, 11, 11, 23, 0)
PERIOD = "2026-11"


@dataclass
class ExportWorld:
    engine: Engine
    keys: dict[str, str]
    first: list[dict[str, object]]
    """The month's first applications."""
    late: list[dict[str, object]]
    """Applications made after more lists of the month cleared (supplementary where a consignor had one)."""
    trued: tuple[str, int]
    """(invtNo, gnum) of the pre-refunded line with a sale recorded."""


def _clear(engine: Engine, corpus: Path, now: datetime) -> None:
    Clearer(
        engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=now
    ).clear_stream(iter_inputs(corpus), batch_messages=120)


def build_export_world(root: Path) -> ExportWorld:
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    keys = file_cast(engine, root / "keys").keys
    faults = {"over_limit_b2b": 0.05, "simplified_licensed": 0.05}
    write_exports(generate_exports(ExportConfig(parcels=80, seed=5, faults=faults)), root / "month")
    write_exports(generate_exports(ExportConfig(parcels=8, seed=17, faults={})), root / "late")
    _clear(engine, root / "month", NOW)
    first = S.summarise(engine, PERIOD, by="world", now=datetime(2026, 12, 3, tzinfo=UTC)).created
    _clear(engine, root / "late", NOW + timedelta(days=3))
    late = S.summarise(engine, PERIOD, by="world", now=datetime(2026, 12, 22, tzinfo=UTC)).created
    with engine.begin() as conn:
        row = conn.execute(
            select(export_refund_line).where(export_refund_line.c.status == "provisional").order_by("invt_no")
        ).first()
        assert row is not None, "no pre-refunded line in the world"
        prerefund.record(
            conn,
            event_id="world-sale",
            invt_no=row.invt_no,
            gnum=row.gnum,
            kind="sold",
            qty=Decimal(row.qty_e5) / 100_000 / 2,
            by="world",
            at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    return ExportWorld(engine, keys, first, late, (row.invt_no, row.gnum))
