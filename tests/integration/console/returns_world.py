"""A store with returns of every kind, for the returns page, its browser test and the returns API test.

The demo cast is filed (with its return site); a day of imports is cleared 50 days ago and a day of exports
40 days ago; 38 days ago their returns come (``cbec.sim.returns.day_returns``): import returns (one over the
imported quantity, refused), export return applications — individual, partial, in batches, cross-district
into the filed Ningbo site, consolidated under a master bill, one over the exported quantity (refused), one
tallied at an unfiled site (tally refused) — then the sites' tallies.  One import return's goods are
reported back on time, the others are past the 45-day deadline today.  Dates are relative to the real clock
because the service reads with it (and the cast's grants start when they are filed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.service.cast import file_cast, use_signing_dir
from cbec.sim.exports import ExportConfig, generate_exports, write_exports
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.sim.returns import day_returns
from cbec.store import connect
from cbec.store import goods_back as goods_repo

REAL_NOW = datetime.now(UTC).replace(microsecond=0)
IMPORTED_AT = REAL_NOW - timedelta(days=50)
EXPORTED_AT = REAL_NOW - timedelta(days=40)
RETURNED_AT = REAL_NOW - timedelta(days=38)


@dataclass
class ReturnsWorld:
    engine: Engine
    keys: dict[str, str]
    imports: list[dict[str, Any]]
    """Manifest of the import returns (guid, invtNo, expected status and code)."""
    exports: list[dict[str, Any]]
    """Manifest of the export returns (coElNo, invtNo, logisticsNo, billNo, expected status and code)."""
    back_on_time: str
    """guid of the import return whose goods were reported back on time."""


def _clear(engine: Engine, named: list[tuple[str, bytes]], now: datetime) -> None:
    Clearer(
        engine,
        params=default_parameters(),
        hs=load_cbec_hs().frame(),
        outbox=None,
        now=now.replace(tzinfo=None),
    ).clear_stream(named, batch_messages=200)


def build_returns_world(root: Path, url: str | None = None) -> ReturnsWorld:
    engine = connect(url or f"sqlite:///{root / 'cbec.db'}")
    cast = file_cast(engine, root / "keys")
    use_signing_dir(cast)  # the returns are signed with the cast's keys, as the service checks
    day = IMPORTED_AT.replace(tzinfo=None)
    write_corpus(
        root / "imports",
        GeneratorConfig(parcels=120, seed=11, day=day, bonded_share=0.0, docs_per_message=(1, 20)),
        workers=1,
    )
    write_exports(
        generate_exports(ExportConfig(parcels=80, seed=13, day=EXPORTED_AT.replace(tzinfo=None), faults={})),
        root / "exports",
    )
    imports = list(iter_inputs(root / "imports"))
    exports = list(iter_inputs(root / "exports"))
    _clear(engine, imports, IMPORTED_AT + timedelta(hours=1))
    _clear(engine, exports, EXPORTED_AT + timedelta(hours=1))
    with engine.connect() as conn:
        returns = day_returns(conn, [m for _n, m in imports + exports], RETURNED_AT, seed=3)
    first = [*returns.imports, *returns.exports.bills, *returns.exports.applications]
    _clear(engine, [(f"r{i}.xml", m) for i, m in enumerate(first)], RETURNED_AT + timedelta(minutes=5))
    tallies = [(f"t{i}.xml", m) for i, m in enumerate(returns.exports.tallies)]
    _clear(engine, tallies, RETURNED_AT + timedelta(hours=1))
    accepted = [r for r in returns.import_manifest if r["expected_status"] == 399]
    assert len(accepted) >= 2, returns.import_manifest
    with engine.begin() as conn:
        goods_repo.record_goods_back(
            conn,
            return_guid=accepted[0]["guid"],
            back_at=RETURNED_AT + timedelta(days=3),
            by="world",
            params=default_parameters(),
        )
    return ReturnsWorld(
        engine, cast.keys, returns.import_manifest, returns.exports.manifest, accepted[0]["guid"]
    )
