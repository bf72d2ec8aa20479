"""Webhook subscriptions (BaseSubscribe semantics) and the dead-letter list.

``RET`` sends each receipt addressed to the subscriber's code; ``DATA`` sends copies of data messages that
name the subscriber (its code or DXP id) in BaseSubscribe; ``ALL`` both.  A call that keeps failing ends on
the dead-letter list after the last retry, where the subscriber can see why and send it again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, field_validator

from cbec.rights import Principal
from cbec.service.deps import (
    AUTH_ERRORS,
    BODY_ERRORS,
    MAX_ID,
    NO_CONTROL,
    ApiError,
    Caller,
    Context,
    error_responses,
)
from cbec.store import subscriptions as subs

router = APIRouter(tags=["webhooks"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
_MINE = {**AUTH_ERRORS, **error_responses(404)}


class SubscriptionIn(BaseModel):
    url: str = Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        examples=["https://erp.example.cn/cbec/hook"],
        description="http(s) address with a host; no spaces or control characters",
    )
    kind: Literal["ALL", "DATA", "RET"] = "RET"
    owner: str | None = Field(
        None, max_length=32, pattern=NO_CONTROL, description="which of my codes (or DXP id) it serves"
    )
    fromStart: bool = Field(False, description="also send what arrived before the subscription")

    @field_validator("url")
    @classmethod
    def _deliverable(cls, url: str) -> str:
        # The deliverer would only fail on these, again and again, until the dead-letter list: refuse now.
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 — raises ValueError on a port that is not a number or out of range
        except ValueError as exc:
            raise ValueError(f"not a usable URL: {exc}") from None
        if not host or not url.isprintable():
            raise ValueError("the URL needs a host name and no control characters")
        return url


class SubscriptionOut(BaseModel):
    id: int
    owner: str
    url: str
    kind: Literal["ALL", "DATA", "RET"]
    active: bool
    createdAt: str
    secret: str | None = Field(None, description="HMAC signing secret; shown only when subscribing")


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]
    deliveries: dict[str, int] = Field(description="my deliveries by status (pending, sent, dead …)")


class DeadLetter(BaseModel):
    id: int
    item: str
    itemId: int
    attempts: int
    lastError: str | None


class DeadLetters(BaseModel):
    deadLetters: list[DeadLetter]


class Stopped(BaseModel):
    id: int
    active: bool


class Requeued(BaseModel):
    requeued: int


def _view(s: subs.Subscription, *, secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "owner": s.owner,
        "url": s.url,
        "kind": s.kind,
        "active": s.active,
        "createdAt": s.created_at.isoformat(),
    }
    if secret:
        out["secret"] = s.secret
    return out


def _mine(principal: Principal) -> list[str]:
    return sorted(principal.codes) or [principal.name]


@router.post(
    "/v1/subscriptions",
    status_code=201,
    summary="Subscribe a webhook / 订阅回调",
    responses={201: {"model": SubscriptionOut}, **AUTH_ERRORS, **BODY_ERRORS, **error_responses(403)},
)
def subscribe(ctx: Context, principal: Caller, body: SubscriptionIn) -> dict[str, Any]:
    owner = body.owner or _mine(principal)[0]
    if owner not in _mine(principal):
        raise ApiError(
            403,
            "not-your-code",
            f"{owner} 不是本企业的代码",
            f"{owner} is not one of your codes",
            field="owner",
        )
    with ctx.engine.begin() as conn:
        made = subs.subscribe(conn, owner, body.url, body.kind, from_start=body.fromStart)
    return _view(made, secret=True)  # the signing secret is shown once, here


@router.get(
    "/v1/subscriptions",
    summary="My webhook subscriptions / 我的订阅",
    responses={200: {"model": SubscriptionList}, **AUTH_ERRORS},
)
def my_subscriptions(ctx: Context, principal: Caller) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        found = subs.of_owner(conn, _mine(principal))
        counts = subs.counts(conn, [s.id for s in found]) if found else {}
    return {"subscriptions": [_view(s) for s in found], "deliveries": counts}


def _own(ctx: Context, principal: Principal, subscription_id: int) -> subs.Subscription:
    with ctx.engine.connect() as conn:
        try:
            sub = subs.get(conn, subscription_id)
        except KeyError:
            sub = None
    if sub is None or sub.owner not in _mine(principal):
        raise ApiError(404, "not-found", "没有该订阅", "no such subscription of yours")
    return sub


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    summary="Stop a subscription / 取消订阅",
    responses={200: {"model": Stopped}, **_MINE},
)
def unsubscribe(ctx: Context, principal: Caller, subscription_id: Id) -> dict[str, Any]:
    sub = _own(ctx, principal, subscription_id)
    with ctx.engine.begin() as conn:
        subs.deactivate(conn, sub.id)
    return {"id": sub.id, "active": False}


@router.get(
    "/v1/subscriptions/{subscription_id}/dead-letters",
    summary="Deliveries that failed for good / 死信",
    responses={200: {"model": DeadLetters}, **_MINE},
)
def dead_letters(ctx: Context, principal: Caller, subscription_id: Id) -> dict[str, Any]:
    sub = _own(ctx, principal, subscription_id)
    with ctx.engine.connect() as conn:
        dead = subs.dead_letters(conn, [sub.id])
    return {
        "deadLetters": [
            {
                "id": d.id,
                "item": d.item,
                "itemId": d.item_id,
                "attempts": d.attempts,
                "lastError": d.last_error,
            }
            for d in dead
        ]
    }


@router.post(
    "/v1/subscriptions/{subscription_id}/dead-letters/retry",
    summary="Send dead letters again / 重发死信",
    responses={200: {"model": Requeued}, **_MINE},
)
def retry_dead(ctx: Context, principal: Caller, subscription_id: Id) -> dict[str, int]:
    sub = _own(ctx, principal, subscription_id)
    with ctx.engine.begin() as conn:
        ids = [d.id for d in subs.dead_letters(conn, [sub.id], limit=10_000)]
        return {"requeued": subs.retry(conn, ids)}
