"""Webhooks: receipts POSTed to a subscriber with a verifiable signature, retried, then dead, then resent."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.service.conftest import Service

from cbec.engine.clear import iter_inputs
from cbec.rights.roles import Role
from cbec.service.webhooks import Deliverer, WebhookOptions
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import enterprises
from cbec.store import subscriptions as subs
from cbec.store.schema import inbox, receipt

AGENT = "4403960402"


class Receiver:
    """A subscriber's endpoint on loopback that records calls and can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if receiver.fail else 204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _ensure_traffic(service: Service) -> None:
    for _name, data in service.files():
        assert service.send(data, service.sender_key(data)).status_code == 202
    service.wait_cleared()


def test_receipts_delivered_signed_retried_dead_and_resent(service: Service, receiver: Receiver) -> None:
    _ensure_traffic(service)
    key = service.cast.keys[AGENT]
    made = service.client.post(
        "/v1/subscriptions",
        json={"url": receiver.url, "kind": "RET", "fromStart": True},
        headers={"X-API-Key": key},
    )
    assert made.status_code == 201, made.text
    sub = made.json()
    # deliver with a deliverer of our own: no waiting between attempts, two attempts at most
    deliverer = Deliverer(service.engine, WebhookOptions(max_attempts=2, backoff=timedelta(0), timeout=5))
    receiver.fail = True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        deliverer.run_once()
        with service.engine.connect() as conn:
            counts = subs.counts(conn, [sub["id"]])
        if counts.get("dead", 0) and not counts.get("pending", 0):
            break
    assert counts.get("dead", 0) > 0 and not counts.get("done", 0), counts
    dead = service.client.get(
        f"/v1/subscriptions/{sub['id']}/dead-letters", headers={"X-API-Key": key}
    ).json()
    assert dead["deadLetters"] and dead["deadLetters"][0]["lastError"].startswith("HTTP 500")
    assert {d["attempts"] for d in dead["deadLetters"]} == {2}

    receiver.fail = False
    receiver.calls.clear()
    again = service.client.post(
        f"/v1/subscriptions/{sub['id']}/dead-letters/retry", headers={"X-API-Key": key}
    )
    assert again.json()["requeued"] == len(dead["deadLetters"])
    deliverer.run_once()
    with service.engine.connect() as conn:
        counts = subs.counts(conn, [sub["id"]])
    assert counts.get("done", 0) == len(dead["deadLetters"]) and not counts.get("dead", 0)
    headers, body = receiver.calls[0]
    expected = "sha256=" + hmac.new(sub["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-cbec-signature"] == expected  # the subscriber can check who sent it
    assert headers["x-cbec-item"] == "receipt" and headers["x-cbec-delivery"]
    assert b"Return" in body and b"<?xml" in body[:60]


def test_someone_elses_subscription_is_404(service: Service, receiver: Receiver) -> None:
    mine = service.client.post(
        "/v1/subscriptions",
        json={"url": receiver.url, "kind": "ALL"},
        headers={"X-API-Key": service.cast.keys[AGENT]},
    ).json()
    other = service.cast.keys["3301960001"]
    r = service.client.get(f"/v1/subscriptions/{mine['id']}/dead-letters", headers={"X-API-Key": other})
    assert r.status_code == 404
    bad = service.client.post(
        "/v1/subscriptions", json={"url": receiver.url, "owner": AGENT}, headers={"X-API-Key": other}
    )
    assert bad.status_code == 403  # not its code


def _naming(xml: bytes, address: str, status: str) -> bytes:
    """The message with a BaseSubscribe naming ``address`` (after BaseTransfer, as the XSD orders it)."""
    prefix = b"ceb:" if b"<ceb:BaseTransfer" in xml else b""
    element = b"<%sBaseSubscribe><%sstatus>%s</%sstatus><%sdxpAddress>%s</%sdxpAddress></%sBaseSubscribe>" % (
        prefix,
        prefix,
        status.encode(),
        prefix,
        prefix,
        address.encode(),
        prefix,
        prefix,
    )
    end = b"</%sBaseTransfer>" % prefix
    assert end in xml
    return xml.replace(end, end + element, 1)


def test_base_subscribe_copies_go_to_the_named_third_party(
    service: Service, receiver: Receiver, tmp_path: Path
) -> None:
    """DATA: the named party gets the message; RET: it gets the receipts of its documents; ALL: both."""
    third = "3301969901"  # a logistics company that takes part in none of the documents below
    with service.engine.begin() as conn:
        if enterprises.get_enterprise(conn, third) is None:
            enterprises.register_enterprise(conn, code=third, name="第三方订阅物流", roles=[Role.LOGISTICS])
        key = enterprises.issue_api_key(conn, third, label="test").key
    sub = service.client.post(
        "/v1/subscriptions", json={"url": receiver.url, "kind": "ALL"}, headers={"X-API-Key": key}
    ).json()
    write_corpus(tmp_path, GeneratorConfig(parcels=12, seed=4242, docs_per_message=(1, 3)), workers=1)
    statuses = ["DATA", "RET", "ALL"]
    named_docs: dict[str, str] = {}  # document guid -> how its message named the third party
    named_messages: dict[str, str] = {}  # message guid -> the same
    for _name, data in iter_inputs(tmp_path):
        if b"CEB311Message" in data[:400]:  # orders name it (they are not signed, so they can be edited)
            status = statuses[len(named_messages) % 3]
            root = re.search(rb'guid="([^"]+)"', data)
            assert root
            named_messages[root.group(1).decode()] = status
            for guid in re.findall(rb"<(?:ceb:)?guid>([^<]+)</", data):
                named_docs[guid.decode()] = status
            data = _naming(data, third, status)
        answer = service.send(data, service.sender_key(data))
        assert answer.status_code == 202, answer.text
    assert len(named_messages) >= 3
    service.wait_cleared()
    with service.engine.begin() as conn:
        subs.plan(conn)
        made = {(d.item, d.item_id) for d in subs.due(conn, limit=10_000) if d.subscription_id == sub["id"]}
        receipt_ids = [i for item, i in made if item == "receipt"]
        data_ids = [i for item, i in made if item == "data"]
        copies = conn.execute(select(receipt.c.recipient, receipt.c.xml).where(receipt.c.id.in_(receipt_ids)))
        copied = {g.decode() for _r, xml in copies for g in re.findall(rb"<(?:ceb:)?guid>([^<]+)</", xml)}
        data_guids = {g for (g,) in conn.execute(select(inbox.c.guid).where(inbox.c.id.in_(data_ids)))}
        assert subs.plan(conn) == 0  # planning again makes nothing new
    # receipts of every order named RET or ALL (and of no order named DATA only) reach the third party
    assert copied == {g for g, st in named_docs.items() if st in ("RET", "ALL")}
    # the messages named DATA or ALL (and no message named RET only) reach it as copies
    assert data_guids == {g for g, st in named_messages.items() if st in ("DATA", "ALL")}
