"""Naming a pass's lists by the parcel's numbers, on SQLite and PostgreSQL: ``logisticsNo`` (with or without
``logisticsCode``) and ``orderNo`` (with or without ``ebpCode``) are exact look-ups on indexes; a number that
several lists carry is refused with the reason unless the carrier or platform tells them apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from tests.integration.service.conftest import TEST_SECRETS, database_url

from cbec.commands.gate import file_gate_parties, zone_lists
from cbec.engine.clear import Clearer, iter_inputs
from cbec.messages.columns import decode_batch
from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.messages.signature import make_test_identity
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.service.app import create_app
from cbec.service.cast import file_cast
from cbec.service.context import ServiceSettings
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.sim.parties import BONDED_ZONES
from cbec.store import connect
from cbec.store import inbox as inbox_repo
from cbec.store.aftercare import list_keys_by_invt_nos
from cbec.store.schema import document

ZONE = BONDED_ZONES[0][2]
OTHER_CARRIER = "3301969999"
OTHER_PLATFORM = "3301969998"


@dataclass(frozen=True)
class Parcel:
    """A released list of the zone and the numbers it is known by."""

    invt_no: str
    order_no: str
    ebp_code: str
    logistics_no: str
    logistics_code: str
    gross_g: int
    net_g: int


@dataclass
class Bind:
    engine: Engine
    client: TestClient
    key: str
    parcels: list[Parcel]
    twins: dict[str, Parcel]  # which parcel has a twin of which sort (carrier, platform, refused)

    def file(self, no: str, parcels: list[Parcel], lists: list[dict[str, str]]) -> Any:
        gross = sum(p.gross_g for p in parcels)
        body = {
            "etpsPreentNo": no,
            "vehicleNo": "浙A·" + no[-5:].rjust(5, "0"),
            "vehicleWt": "9000",
            "totalGrossWt": f"{gross / 1000:.3f}",
            "totalNetWt": f"{sum(p.net_g for p in parcels) / 1000:.3f}",
            "totalWt": f"{(9_000_000 + gross) / 1000:.3f}",
            "lists": lists,
        }
        return self.client.post("/v1/gate/passes", json=body, headers={"X-API-Key": self.key})


def _declared(engine: Engine, invt_no: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The list head and lines as declared, decoded again from the inbox."""
    with engine.connect() as conn:
        key = list_keys_by_invt_nos(conn, [invt_no])[invt_no]
        guid, inbox_id = conn.execute(
            select(document.c.guid, document.c.inbox_id).where(
                document.c.kind == "list", document.c.business_key == key
            )
        ).one()
        raw = inbox_repo.raw_by_ids(conn, [inbox_id])[inbox_id]
    batch = decode_batch([raw])
    head = batch.table("CEB621Message", "InventoryHead").filter(pl.col("guid") == guid).row(0, named=True)
    lines = batch.table("CEB621Message", "InventoryList").filter(
        (pl.col("_msg") == head["_msg"]) & (pl.col("_doc") == head["_doc"])
    )
    return head, lines.sort("gnum").to_dicts()


def _twin(engine: Engine, invt_no: str, **over: str) -> tuple[str, bytes]:
    """Another CEB621 for the same parcel's numbers (``over`` on top, a new guid and order number)."""
    head, lines = _declared(engine, invt_no)

    def own(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    doc = {**own(head), "guid": new_guid(), "orderNo": head["orderNo"] + "T", "invtNo": None, **over}
    transfer = {
        "copCode": head["agentCode"],
        "copName": head["agentName"],
        "dxpMode": "DXP",
        "dxpId": "DXPENT0000000001",
    }
    signer = make_test_identity("cbec gate bind test")
    xml = encode(
        "CEB621Message", [OutDocument(doc, [own(x) for x in lines])], transfer=transfer, signer=signer
    )
    return new_guid(), xml


def _parcel(engine: Engine, invt_no: str, gross_g: int, net_g: int) -> Parcel:
    head, _ = _declared(engine, invt_no)
    return Parcel(
        invt_no,
        head["orderNo"],
        head["ebpCode"],
        head["logisticsNo"],
        head["logisticsCode"],
        gross_g,
        net_g,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bind(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    root: Path = tmp_path_factory.mktemp("bind")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in TEST_SECRETS.items():
            mp.setenv(name, value)
        engine = connect(database_url(request.param, root))
        config = GeneratorConfig(parcels=80, seed=11, bonded_share=1.0, docs_per_message=(1, 5))
        write_corpus(root / "traffic", config, workers=1)
        cleared_at = config.day.replace(hour=23)

        def clearer(now: datetime) -> Clearer:
            hs = load_cbec_hs().frame()
            return Clearer(engine, params=default_parameters(), hs=hs, outbox=root / "outbox", now=now)

        clearer(cleared_at).clear_stream(iter_inputs(root / "traffic"), workers=0)
        released = [x for x in zone_lists(engine) if x.area_code == ZONE and x.status == 800]
        assert len(released) >= 12
        parcels = [_parcel(engine, x.invt_no, x.gross_g, x.net_g) for x in released]
        twins = {"carrier": parcels[0], "platform": parcels[1], "refused": parcels[2]}
        # the same waybill number and carrier declared again under another order: it waits for its order,
        # payment and waybill, and is refused when the wait (72 h) is over
        clearer(cleared_at).clear_batch([_twin(engine, twins["refused"].invt_no)])
        # the same waybill number from another carrier; the same order number on another platform
        clearer(cleared_at + timedelta(days=5)).clear_batch(
            [
                _twin(engine, twins["carrier"].invt_no, logisticsCode=OTHER_CARRIER),
                _twin(
                    engine,
                    twins["platform"].invt_no,
                    ebpCode=OTHER_PLATFORM,
                    orderNo=twins["platform"].order_no,
                    logisticsNo=twins["platform"].logistics_no + "T",
                ),
            ]
        )
        keys = {**file_cast(engine, root / "keys").keys, **file_gate_parties(engine)}
        app = create_app(engine, settings=ServiceSettings(clearing=False, webhooks=False))
        with TestClient(app) as client:
            yield Bind(engine, client, keys[ZONE], parcels[3:], twins)
        engine.dispose()


def _statuses(engine: Engine, column: Any, value: str) -> set[tuple[str, int]]:
    """(carrier, status) of the stored lists whose ``column`` holds ``value``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(document.c.logistics_code, document.c.status).where(
                document.c.kind == "list", column == value
            )
        )
        return {(str(code), int(status)) for code, status in rows}


def test_the_twins_are_stored_as_declared(bind: Bind) -> None:
    """The setting the other tests rely on: each number is carried by two stored lists."""
    carrier, platform, refused = (bind.twins[k] for k in ("carrier", "platform", "refused"))
    assert _statuses(bind.engine, document.c.logistics_no, carrier.logistics_no) == {
        (carrier.logistics_code, 800),
        (OTHER_CARRIER, 2),
    }
    assert {s for _, s in _statuses(bind.engine, document.c.order_no, platform.order_no)} == {2, 800}
    assert _statuses(bind.engine, document.c.logistics_no, refused.logistics_no) == {
        (refused.logistics_code, 100),
        (refused.logistics_code, 800),
    }


def test_bind_by_waybill_number_alone_or_with_the_carrier(bind: Bind) -> None:
    alone, with_code = bind.parcels[0], bind.parcels[1]
    r = bind.file(
        "B0001",
        [alone, with_code],
        [
            {"logisticsNo": alone.logistics_no},
            {"logisticsNo": with_code.logistics_no, "logisticsCode": with_code.logistics_code},
        ],
    )
    assert r.status_code == 201, r.text
    assert [x["invtNo"] for x in r.json()["lists"]] == [alone.invt_no, with_code.invt_no]


def test_bind_by_order_number_alone_or_with_the_platform(bind: Bind) -> None:
    alone, with_code = bind.parcels[2], bind.parcels[3]
    r = bind.file(
        "B0002",
        [alone, with_code],
        [{"orderNo": alone.order_no}, {"orderNo": with_code.order_no, "ebpCode": with_code.ebp_code}],
    )
    assert r.status_code == 201, r.text
    assert [x["invtNo"] for x in r.json()["lists"]] == [alone.invt_no, with_code.invt_no]


def test_a_number_two_lists_carry_is_refused_until_told_apart(bind: Bind) -> None:
    carrier, platform = bind.twins["carrier"], bind.twins["platform"]
    r = bind.file("B0003", [carrier], [{"logisticsNo": carrier.logistics_no}])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "list-ambiguous" and error["field"] == "lists"
    for text in (error["reason_zh"], error["reason_en"]):
        assert carrier.logistics_no in text and carrier.logistics_code in text and OTHER_CARRIER in text
    assert "logisticsCode" in error["reason_en"] and "物流企业" in error["reason_zh"]

    r = bind.file("B0004", [platform], [{"orderNo": platform.order_no}])
    assert r.status_code == 422 and r.json()["error"]["code"] == "list-ambiguous", r.text
    assert OTHER_PLATFORM in r.json()["error"]["reason_en"] and "ebpCode" in r.json()["error"]["reason_en"]

    # nothing was stored: the same pass numbers, told apart now, are filed
    told = [
        {"logisticsNo": carrier.logistics_no, "logisticsCode": carrier.logistics_code},
        {"orderNo": platform.order_no, "ebpCode": platform.ebp_code},
    ]
    r = bind.file("B0003", [carrier, platform], told)
    assert r.status_code == 201, r.text
    assert [x["invtNo"] for x in r.json()["lists"]] == [carrier.invt_no, platform.invt_no]


def test_a_refused_list_gives_way_to_the_one_declared_again(bind: Bind) -> None:
    """A list customs refused is never bound, so its number names the other list carrying it."""
    refused = bind.twins["refused"]
    r = bind.file("B0005", [refused], [{"logisticsNo": refused.logistics_no}])
    assert r.status_code == 201, r.text
    assert [x["invtNo"] for x in r.json()["lists"]] == [refused.invt_no]


def test_unknown_or_disagreeing_numbers_are_refused_each_with_its_reason(bind: Bind) -> None:
    known, other = bind.parcels[4], bind.parcels[5]
    lists = [
        {"logisticsNo": "NO-SUCH-WAYBILL"},
        {"logisticsNo": known.logistics_no, "logisticsCode": OTHER_CARRIER},
        {"orderNo": "NO-SUCH-ORDER"},
        {"orderNo": known.order_no, "ebpCode": OTHER_PLATFORM},
        {"invtNo": known.invt_no, "logisticsNo": other.logistics_no},
        {"orderNo": known.order_no, "logisticsNo": known.logistics_no, "invtNo": known.invt_no},
    ]
    r = bind.file("B0006", [known], lists)
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["problems"]
    assert [p["code"] for p in problems[:5]] == ["list-unknown"] * 4 + ["list-mismatch"]
    assert all(f"lists[{i}]" in p["reason_en"] and p["reason_zh"] for i, p in enumerate(problems[:5]))
    assert not any("lists[5]" in p["reason_en"] for p in problems)  # three numbers, one list: fine


@pytest.mark.parametrize(
    ("entry", "needs"),
    [({"ebpCode": OTHER_PLATFORM}, "orderNo"), ({"logisticsCode": OTHER_CARRIER}, "logisticsNo")],
)
def test_a_code_without_its_number_is_a_bad_request(bind: Bind, entry: dict[str, str], needs: str) -> None:
    r = bind.file("B0007", bind.parcels[6:7], [{"invtNo": bind.parcels[6].invt_no, **entry}])
    assert r.status_code == 422 and needs in r.text, r.text


def test_numbers_are_found_on_the_indexes_without_like(bind: Bind) -> None:
    """Every statement a filing by numbers sends is free of LIKE, and those reading ``document`` by number
    search its partial indexes: SQLite's EXPLAIN QUERY PLAN, without statistics, names them and no scan;
    PostgreSQL (sequential scans priced out, as a table this small would be read whole) uses them too."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    p = bind.parcels[7]
    event.listen(bind.engine, "before_cursor_execute", record)
    try:
        r = bind.file("B0008", [p], [{"logisticsNo": p.logistics_no}, {"orderNo": p.order_no}])
    finally:
        event.remove(bind.engine, "before_cursor_execute", record)
    assert r.status_code == 422 and r.json()["error"]["code"] == "list-twice", r.text
    assert sent and not [s for s, _ in sent if "LIKE" in s.upper()]
    by_number = [(s, a) for s, a in sent if "document.logistics_no IN" in s or "document.order_no IN" in s]
    assert len(by_number) == 2, [s for s, _ in sent]
    with bind.engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:  # a table this small is read whole; the planner must still be able to use the index
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for statement, parameters in by_number:
            explain = ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement
            plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(explain, parameters))
            assert "ix_document_list_" in plan, plan
            assert ("SCAN document" not in plan) if sqlite else ("Seq Scan" not in plan), plan
