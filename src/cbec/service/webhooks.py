"""Webhook delivery: each planned delivery is POSTed to its subscriber, retried with back-off, then dead.

A call carries the CEB XML itself (``application/xml``) and headers that let the receiver check and
de-duplicate it: ``X-Cbec-Delivery`` (the delivery id, the same on every retry), ``X-Cbec-Item``
(``receipt`` or ``data``), ``X-Cbec-Item-Id`` and ``X-Cbec-Signature`` (``sha256=`` HMAC of the body with
the subscription's secret).  Any 2xx answer counts as delivered; anything else, or no answer within the
timeout, is a failed attempt.  Delivery is at least once: a crash between the call and recording it calls
again, and the receiver recognises the repeat by ``X-Cbec-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import Engine

from cbec.store import inbox as inbox_repo
from cbec.store import outbox as outbox_repo
from cbec.store import subscriptions as subs

log = logging.getLogger("cbec.service.webhooks")


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=2)
    """Wait after the first failure; doubled after each further one."""
    cap: timedelta = timedelta(hours=1)
    timeout: float = 5.0
    poll: float = 0.5


def signature(secret: str, body: bytes) -> str:
    """The value of ``X-Cbec-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Deliverer:
    """Plans and sends deliveries until stopped; one pass is :meth:`run_once` (tests call it directly)."""

    def __init__(self, engine: Engine, options: WebhookOptions | None = None) -> None:
        self.engine = engine
        self.options = options or WebhookOptions()
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=self.options.timeout, follow_redirects=False, trust_env=False)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("webhook pass failed")
                sent = 0
            if not sent:
                self._stop.wait(self.options.poll)
        self._client.close()

    def run_once(self) -> int:
        """Plan what is new, then try every delivery now due; return how many calls were made."""
        with self.engine.begin() as conn:
            subs.plan(conn)
        skip_locked = self.engine.dialect.name == "postgresql"
        calls = 0
        with self.engine.connect() as conn:
            due = subs.due(conn, limit=200)
        for item in due:
            with self.engine.begin() as conn:
                if skip_locked:  # another worker may have taken it meanwhile
                    still = [d for d in subs.due(conn, limit=200, skip_locked=True) if d.id == item.id]
                    if not still:
                        continue
                sub = subs.get(conn, item.subscription_id)
                body = self._body(conn, item)
                error = self._send(sub, item, body) if body is not None else "the item no longer exists"
                calls += 1
                if error is None:
                    subs.succeeded(conn, item.id)
                else:
                    o = self.options
                    status = subs.failed(
                        conn, item, error, max_attempts=o.max_attempts, backoff=o.backoff, cap=o.cap
                    )
                    if status == subs.DEAD:
                        log.warning(
                            "delivery %s to %s is dead after %s attempts: %s",
                            item.id,
                            sub.url,
                            item.attempts + 1,
                            error,
                        )
        return calls

    def _body(self, conn: object, item: subs.Delivery) -> bytes | None:
        if item.item == "receipt":
            rows = outbox_repo.by_ids(conn, [item.item_id])  # type: ignore[arg-type]
            return rows[0].xml if rows else None
        raws = inbox_repo.raw_by_ids(conn, [item.item_id])  # type: ignore[arg-type]
        return raws.get(item.item_id)

    def _send(self, sub: subs.Subscription, item: subs.Delivery, body: bytes) -> str | None:
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            "X-Cbec-Delivery": str(item.id),
            "X-Cbec-Item": item.item,
            "X-Cbec-Item-Id": str(item.item_id),
            "X-Cbec-Signature": signature(sub.secret, body),
        }
        try:
            response = self._client.post(sub.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"
