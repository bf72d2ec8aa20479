"""Webhooks: receipts POSTed to a subscriber with a verifiable signature, retried, then dead, then resent."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.integration.service.conftest import Service

from cbec.service.webhooks import Deliverer, WebhookOptions
from cbec.store import subscriptions as subs

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
