"""The gate over HTTP on SQLite and PostgreSQL: filing passes, deciding vehicles, holds, rights, replays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from tests.integration.service.conftest import TEST_SECRETS, database_url

from cbec.commands.gate import OFFICER_PREFIX, file_gate_parties, zone_lists
from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.service.app import create_app
from cbec.service.cast import file_cast
from cbec.service.context import ServiceSettings
from cbec.sim.gate import ZoneList
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.sim.parties import BONDED_ZONES
from cbec.store import connect, gate_journal
from cbec.store.schema import gate_event, gate_pass


@dataclass
class Gate:
    engine: Engine
    client: TestClient
    keys: dict[str, str]
    lists: list[ZoneList]

    def post(self, path: str, who: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers={"X-API-Key": self.keys[who]})

    def get(self, path: str, who: str) -> Any:
        return self.client.get(path, headers={"X-API-Key": self.keys[who]})

    def settle(self) -> None:
        """Move the gate journal into the database (what the clearing loop does), where there is one."""
        journal = gate_journal.open_journal(
            self.engine.url.render_as_string(hide_password=False), create=False
        )
        if journal is not None:
            gate_journal.move(journal, self.engine)


ZONE, DISTRICT = BONDED_ZONES[0][2], BONDED_ZONES[0][0]
OTHER_ZONE = BONDED_ZONES[1][2]
OFFICER = f"{OFFICER_PREFIX}{DISTRICT}"
OTHER_OFFICER = f"{OFFICER_PREFIX}{BONDED_ZONES[1][0]}"


@pytest.fixture(scope="module", params=["sqlite", "sqlite-journal", "postgresql"])
def gate(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    root = tmp_path_factory.mktemp("gate")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in TEST_SECRETS.items():
            mp.setenv(name, value)
        journal = request.param == "sqlite-journal"  # cbec serve's layout on SQLite (cbec.store.gate_journal)
        engine = connect(database_url("sqlite" if journal else request.param, root))
        config = GeneratorConfig(
            parcels=160, seed=9, bonded_share=1.0, docs_per_message=(1, 10), faults={"missing_payment": 0.05}
        )
        write_corpus(root / "traffic", config, workers=1)
        Clearer(
            engine,
            params=default_parameters(),
            hs=load_cbec_hs().frame(),
            outbox=root / "outbox",
            now=config.day.replace(hour=23),
        ).clear_stream(iter_inputs(root / "traffic"), workers=0)
        keys = {**file_cast(engine, root / "keys").keys, **file_gate_parties(engine)}
        app = create_app(
            engine, settings=ServiceSettings(clearing=False, webhooks=False, gate_journal=journal)
        )
        with TestClient(app) as client:
            yield Gate(engine, client, keys, zone_lists(engine))
        engine.dispose()


def _filing(lists: list[ZoneList], no: str, **over: Any) -> dict[str, Any]:
    gross = sum(x.gross_g for x in lists)
    net = sum(x.net_g for x in lists)
    body = {
        "etpsPreentNo": no,
        "vehicleNo": "浙A·" + no[-5:].rjust(5, "0"),
        "vehicleIcNo": "IC" + no,
        "vehicleWt": "9000",
        "containerNo": "CBEU1234567",
        "containerWt": "2300.5",
        "totalGrossWt": f"{gross / 1000:.3f}",
        "totalNetWt": f"{net / 1000:.3f}",
        "totalWt": f"{(9_000_000 + 2_300_500 + gross) / 1000:.3f}",
        "lists": [{"invtNo": x.invt_no} for x in lists],
    }
    body.update(over)
    return body


def _released(gate: Gate, zone: str = ZONE) -> list[ZoneList]:
    return [x for x in gate.lists if x.area_code == zone and x.status == 800]


def _event(body: dict[str, Any], event_id: str, **over: Any) -> dict[str, Any]:
    total_kg = float(body["totalWt"])
    out = {
        "eventId": event_id,
        "lane": "L1",
        "vehicleNo": body["vehicleNo"],
        "vehicleIcNo": body["vehicleIcNo"],
        "containerNo": body["containerNo"],
        "weight": round(total_kg + 20, 1),
    }
    out.update(over)
    return out


def test_file_pass_approved_then_lift_then_second_use_stops(gate: Gate) -> None:
    lists = _released(gate)[:3]
    body = _filing(lists, "T0001")
    r = gate.post("/v1/gate/passes", ZONE, body)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["stucd"] == "1" and len(p["passportNo"]) == 24 and p["passportNo"].startswith(f"Z{DISTRICT}E")
    assert [x["invtNo"] for x in p["lists"]] == [x.invt_no for x in lists]
    # the same filing again: the stored pass, not a second one
    again = gate.post("/v1/gate/passes", ZONE, body)
    assert again.status_code == 200 and again.json()["passportNo"] == p["passportNo"]

    d = gate.post("/v1/gate/events", ZONE, _event(body, "ev-1")).json()
    assert d["decision"] == "LIFT" and d["reasons"] == [] and d["passStatus"] == "2"
    assert gate.get(f"/v1/gate/passes/{p['passportNo']}", ZONE).json()["stucd"] == "2"
    # the same event again: the same answer, nothing new stored
    repeat = gate.post("/v1/gate/events", ZONE, _event(body, "ev-1")).json()
    assert repeat["decision"] == "LIFT" and repeat["repeat"] is True
    conflict = gate.post("/v1/gate/events", ZONE, _event(body, "ev-1", weight=1))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "event-conflict"
    used = gate.post("/v1/gate/events", ZONE, _event(body, "ev-2")).json()
    assert used["decision"] == "STOP" and [x["code"] for x in used["reasons"]] == ["pass-used"]
    assert used["reasons"][0]["reason_zh"] and used["reasons"][0]["reason_en"]


def test_mismatches_stop_with_every_reason(gate: Gate) -> None:
    lists = _released(gate)[3:5]
    body = _filing(lists, "T0002")
    assert gate.post("/v1/gate/passes", ZONE, body).status_code == 201
    d = gate.post(
        "/v1/gate/events",
        ZONE,
        _event(
            body,
            "ev-3",
            vehicleNo="浙A99999",
            containerNo="TGHU0000001",
            weight=round(float(body["totalWt"]) * 1.5, 1),
        ),
    ).json()
    assert d["decision"] == "STOP"
    assert {x["code"] for x in d["reasons"]} == {"plate-mismatch", "container-mismatch", "overweight"}
    # the pass was not used by the stopped vehicle: the right vehicle still passes
    assert gate.post("/v1/gate/events", ZONE, _event(body, "ev-4")).json()["decision"] == "LIFT"


def test_unreleased_list_keeps_pass_applied_with_reasons(gate: Gate) -> None:
    waiting = [x for x in gate.lists if x.area_code == ZONE and x.status not in (800, 899, 100)]
    assert waiting
    body = _filing([*_released(gate)[5:6], waiting[0]], "T0003")
    p = gate.post("/v1/gate/passes", ZONE, body).json()
    assert p["stucd"] == "0" and p["pending"][0]["code"] == "list-unreleased"
    assert waiting[0].invt_no in p["pending"][0]["reason_en"]
    assert gate.post(f"/v1/gate/passes/{p['passportNo']}/check", ZONE, {}).json()["stucd"] == "0"
    d = gate.post("/v1/gate/events", ZONE, _event(body, "ev-5")).json()
    assert d["decision"] == "STOP"
    assert {x["code"] for x in d["reasons"]} & {"list-unreleased", "list-inspection"}


def test_bad_filings_are_refused_and_change_nothing(gate: Gate) -> None:
    lists = _released(gate)[6:8]
    with gate.engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(gate_pass))
    bad_total = gate.post("/v1/gate/passes", ZONE, _filing(lists, "T0004", totalWt="1"))
    assert bad_total.status_code == 422
    assert "total-mismatch" in [p["code"] for p in bad_total.json()["error"]["problems"]]
    heavy = gate.post(
        "/v1/gate/passes", ZONE, _filing(lists, "T0005", totalGrossWt="99999", totalWt="111299.5")
    )
    assert heavy.status_code == 422 and heavy.json()["error"]["reason_zh"]
    unknown = gate.post(
        "/v1/gate/passes", ZONE, {**_filing(lists, "T0006"), "lists": [{"invtNo": "29242026I999999999"}]}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "list-unknown"
    weight = gate.post("/v1/gate/passes", ZONE, _filing(lists, "T0007", vehicleWt="-1"))
    assert weight.status_code == 422 and weight.json()["error"]["field"] == "vehicleWt"
    with gate.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(gate_pass)) == before
    # a list already on a live pass cannot go on another
    used = _released(gate)[0:1]
    dup = gate.post("/v1/gate/passes", ZONE, _filing(used, "T0008"))
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "list-on-another-pass"


def test_rights(gate: Gate) -> None:
    lists = _released(gate)[8:9]
    body = _filing(lists, "T0009")
    assert gate.client.post("/v1/gate/passes", json=body).status_code == 401
    platform = next(k for k in gate.keys if k.startswith("3301"))
    r = gate.post("/v1/gate/passes", platform, body)
    assert r.status_code == 403 and r.json()["error"]["reason_zh"]
    other = gate.post("/v1/gate/passes", OTHER_ZONE, body)  # another zone's enterprise, not its lists
    assert other.status_code == 403 and other.json()["error"]["code"] == "not-your-list"
    p = gate.post("/v1/gate/passes", ZONE, body).json()
    number = p["passportNo"]
    assert gate.get(f"/v1/gate/passes/{number}", OTHER_ZONE).status_code == 404
    assert gate.get(f"/v1/gate/passes/{number}", OTHER_OFFICER).status_code == 404
    assert gate.get(f"/v1/gate/passes/{number}", OFFICER).json()["passportNo"] == number
    # another operator's gate does not find this vehicle's pass
    d = gate.post("/v1/gate/events", OTHER_ZONE, _event(body, "ev-6")).json()
    assert d["decision"] == "STOP" and [x["code"] for x in d["reasons"]] == ["no-pass"]
    # holds are for officers of the pass's district
    hold = {"targetKind": "pass", "target": number, "reason_zh": "布控", "reason_en": "held"}
    assert gate.post("/v1/gate/holds", ZONE, hold).status_code == 403
    assert gate.post("/v1/gate/holds", OTHER_OFFICER, hold).status_code == 404
    decisions = gate.get("/v1/gate/decisions", OTHER_ZONE).json()["decisions"]
    assert all(x["passportNo"] is None or x["passportNo"] != number for x in decisions)


def test_holds_and_inspection_orders(gate: Gate) -> None:
    lists = _released(gate)[9:10]
    body = _filing(lists, "T0010")
    number = gate.post("/v1/gate/passes", ZONE, body).json()["passportNo"]
    h = gate.post(
        "/v1/gate/holds",
        OFFICER,
        {
            "targetKind": "vehicle",
            "target": body["vehicleNo"],
            "reason_zh": "车辆布控",
            "reason_en": "vehicle held",
        },
    )
    assert h.status_code == 201, h.text
    i = gate.post(
        "/v1/gate/holds",
        OFFICER,
        {
            "kind": "inspection",
            "targetKind": "pass",
            "target": number,
            "reason_zh": "查验",
            "reason_en": "inspect",
        },
    )
    assert i.status_code == 201
    d = gate.post("/v1/gate/events", ZONE, _event(body, "ev-7")).json()
    assert d["decision"] == "STOP" and {x["code"] for x in d["reasons"]} == {
        "vehicle-held",
        "inspection-ordered",
    }
    assert "车辆布控" in " ".join(x["reason_zh"] for x in d["reasons"])
    for hold_id in (h.json()["id"], i.json()["id"]):
        assert gate.post(f"/v1/gate/holds/{hold_id}/lift", OFFICER, {}).status_code == 200
    assert gate.post(f"/v1/gate/holds/{h.json()['id']}/lift", OFFICER, {}).status_code == 409
    assert gate.get("/v1/gate/holds?active=false", OFFICER).json()["holds"]
    assert gate.post("/v1/gate/events", ZONE, _event(body, "ev-8")).json()["decision"] == "LIFT"
    gate.settle()
    with gate.engine.connect() as conn:
        stored = conn.execute(
            select(gate_event.c.decision).where(gate_event.c.event_id.in_(["ev-7", "ev-8"]))
        )
        assert sorted(r[0] for r in stored) == ["LIFT", "STOP"]


def test_delete_frees_the_lists(gate: Gate) -> None:
    lists = _released(gate)[10:11]
    number = gate.post("/v1/gate/passes", ZONE, _filing(lists, "T0011")).json()["passportNo"]
    assert (
        gate.client.delete(f"/v1/gate/passes/{number}", headers={"X-API-Key": gate.keys[ZONE]}).json()[
            "stucd"
        ]
        == "5"
    )
    assert gate.post("/v1/gate/passes", ZONE, _filing(lists, "T0012")).status_code == 201
    listing = gate.get("/v1/gate/passes?status=5", ZONE).json()
    assert [p["passportNo"] for p in listing["passes"]] == [number] and listing["counts"]["5"] == 1


def test_lists_bound_by_waybill_number_with_or_without_the_carrier(gate: Gate) -> None:
    """``lists[].logisticsNo`` finds the list of that parcel: by the waybill's key when the carrier's code
    is given (an exact look-up), by the number alone otherwise; an unknown number is named as not found."""
    from cbec.service.gate import list_heads
    from cbec.store.aftercare import list_keys_by_invt_nos

    chosen = _released(gate)[-2:]
    with gate.engine.connect() as conn:
        keys = list_keys_by_invt_nos(conn, [x.invt_no for x in chosen])
        heads = list_heads(conn, [keys[x.invt_no] for x in chosen])
    by_waybill = [
        {"logisticsNo": h["logisticsNo"], "logisticsCode": h["logisticsCode"]} for h in heads.values()
    ]
    by_waybill[1].pop("logisticsCode")
    body = {**_filing(chosen, "T0900"), "lists": by_waybill}
    r = gate.post("/v1/gate/passes", ZONE, body)
    assert r.status_code == 201, r.text
    assert sorted(x["invtNo"] for x in r.json()["lists"]) == sorted(x.invt_no for x in chosen)
    nowhere = [{"logisticsNo": "NO-SUCH-WAYBILL", "logisticsCode": "X"}]
    unknown = {**_filing(chosen, "T0901"), "lists": nowhere}
    r = gate.post("/v1/gate/passes", ZONE, unknown)
    assert r.status_code == 422 and r.json()["error"]["code"] == "list-unknown", r.text


def test_a_used_pass_cannot_be_deleted_and_its_decision_is_read_back_at_once(gate: Gate) -> None:
    """Right after a LIFT (with a journal: before the clearing loop has moved it) the pass reads as passed,
    cannot be deleted or voided, and the decision is among the latest ones."""
    lists = _released(gate)[11:12]
    body = _filing(lists, "T0013")
    number = gate.post("/v1/gate/passes", ZONE, body).json()["passportNo"]
    assert gate.post("/v1/gate/events", ZONE, _event(body, "ev-13")).json()["decision"] == "LIFT"
    assert gate.get(f"/v1/gate/passes/{number}", ZONE).json()["stucd"] == "2"
    gone = gate.client.delete(f"/v1/gate/passes/{number}", headers={"X-API-Key": gate.keys[ZONE]})
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "pass-status"
    void = gate.post(f"/v1/gate/passes/{number}/void", ZONE, {})
    assert void.status_code == 409
    latest = gate.get("/v1/gate/decisions?limit=5", ZONE).json()["decisions"]
    assert latest[0]["eventId"] == "ev-13" and latest[0]["passportNo"] == number
    gate.settle()
    assert gate.get(f"/v1/gate/passes/{number}", ZONE).json()["stucd"] == "2"
    latest = gate.get("/v1/gate/decisions?limit=5", ZONE).json()["decisions"]
    assert [d["eventId"] for d in latest].count("ev-13") == 1
