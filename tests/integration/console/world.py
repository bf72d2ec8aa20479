"""A populated service database for the console's tests: the generator's cast filed, a generated day with
planted faults sent through the real HTTP API and cleared with high risk rates, so that there are lists
held for manual review (300) and inspection (500), refusals with reasons, receipts and tax bills.

Shared by the TestClient tests here and the browser tests in ``tests/e2e``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from cbec.engine.clear import iter_inputs
from cbec.params import ParameterSet
from cbec.service.app import create_app
from cbec.service.cast import ADMIN, OFFICER, Cast, file_cast, use_signing_dir
from cbec.service.context import ServiceSettings
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store import spool as spool_repo
from cbec.store.schema import decision, document

COP = re.compile(rb"<(?:\w+:)?copCode>([^<]+)<")

RISK_YAML = """
parameters:
  - name: import.risk.inspection_rate
    description: test setting, many lists inspected
    unit: ratio
    values:
      - from: 2016-01-01
        value: 0.25
        reference: {source: test, clause: test}
  - name: import.risk.manual_review_rate
    description: test setting, many lists reviewed
    unit: ratio
    values:
      - from: 2016-01-01
        value: 0.25
        reference: {source: test, clause: test}
"""

FAULTS = {"amount_mismatch": 0.05, "bad_id": 0.05, "off_list": 0.05, "over_single_limit": 0.03}


@dataclass
class World:
    root: Path
    engine: Engine
    cast: Cast
    params: ParameterSet

    @property
    def officer_key(self) -> str:
        return self.cast.keys[OFFICER]

    @property
    def admin_key(self) -> str:
        return self.cast.keys[ADMIN]

    def held(self, status: int, district_prefix: str = "29") -> list[str]:
        """invtNos of lists now at ``status`` whose number says they were declared in the district."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(decision.c.invt_no)
                .join(
                    document, (document.c.kind == "list") & (document.c.business_key == decision.c.list_key)
                )
                .where(document.c.status == status, decision.c.status == status)
                .order_by(decision.c.id)
            ).all()
        return [r.invt_no for r in rows if r.invt_no and r.invt_no.startswith(district_prefix)]


def risky_params(folder: Path) -> ParameterSet:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "risk.yaml").write_text(RISK_YAML, encoding="utf-8")
    return ParameterSet.load(folder)


def build_world(root: Path, *, parcels: int = 80, seed: int = 11) -> World:
    """File the cast, send a generated day through the API, wait until it is cleared."""
    engine = connect(f"sqlite:///{root / 'cbec.db'}")
    cast = file_cast(engine, root / "keys")
    use_signing_dir(cast)
    traffic = root / "traffic"
    config = GeneratorConfig(parcels=parcels, seed=seed, docs_per_message=(1, 8), faults=dict(FAULTS))
    write_corpus(traffic, config, workers=1)
    params = risky_params(root / "params")
    app = create_app(engine, settings=ServiceSettings(webhooks=False), params=params)
    with TestClient(app) as client:
        for _name, data in iter_inputs(traffic):
            found = COP.search(data)
            assert found, "no copCode in a generated message"
            r = client.post(
                "/v1/messages",
                content=data,
                headers={"X-API-Key": cast.keys[found.group(1).decode()], "Content-Type": "application/xml"},
            )
            assert r.status_code == 202, r.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not spool_repo.unprocessed(engine):  # the intake spool too (cbec serve on SQLite)
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the clearing loop did not finish in time")
    return World(root=root, engine=engine, cast=cast, params=params)
