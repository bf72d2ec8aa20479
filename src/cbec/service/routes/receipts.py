"""The receipt feed: ``GET /v1/receipts`` and ``POST /v1/receipts/confirm``.

Each enterprise reads the receipts addressed to its codes in id order.  Without ``after`` the feed starts
after the position this API key last confirmed, so a client that crashes before confirming is given the
same receipts again and one that confirmed never sees them twice; a client that keeps its own position
passes ``after`` instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cbec.rights import Principal
from cbec.service.deps import AUTH_ERRORS, BODY_ERRORS, MAX_ID, ApiError, Caller, Context, error_responses
from cbec.store import feeds
from cbec.store import outbox as outbox_repo

router = APIRouter(tags=["receipts"])


class Confirm(BaseModel):
    upto: int = Field(ge=0, le=MAX_ID, description="the id of the last receipt handled")


class ReceiptOut(BaseModel):
    id: int
    messageType: str = Field(examples=["CEB622Message"])
    recipient: str = Field(description="the code it is addressed to (one of mine)")
    createdAt: str = Field(description="ISO 8601 with time zone")
    xml: str = Field(description="the receipt as CEB XML")


class ReceiptFeed(BaseModel):
    """Documents the feed's answer (the route builds it as a dict; nothing is filtered through this)."""

    after: int = Field(description="the position this page starts after")
    next: int = Field(description="pass as `after` (or confirm) to go on")
    receipts: list[ReceiptOut]


class Position(BaseModel):
    position: int = Field(description="the confirmed position of this API key")


def consumer(principal: Principal) -> str:
    return f"key:{principal.credential or principal.name}"[:80]


def _recipients(principal: Principal) -> list[str]:
    return sorted(principal.codes)


@router.get(
    "/v1/receipts",
    summary="Receipts addressed to me, in order / 回执",
    responses={200: {"model": ReceiptFeed}, **AUTH_ERRORS},
)
def receipt_feed(
    ctx: Context,
    principal: Caller,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="start after this receipt id (default: my position)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        start = after if after is not None else feeds.position(conn, consumer(principal))
        rows = outbox_repo.feed(conn, _recipients(principal), after=start, limit=limit)
    return {
        "after": start,
        "next": rows[-1].id if rows else start,
        "receipts": [
            {
                "id": r.id,
                "messageType": r.message_type,
                "recipient": r.recipient,
                "createdAt": r.created_at.isoformat(),
                "xml": r.xml.decode("utf-8"),
            }
            for r in rows
        ],
    }


@router.post(
    "/v1/receipts/confirm",
    summary="Confirm the receipts handled so far / 确认已处理回执",
    responses={200: {"model": Position}, **AUTH_ERRORS, **BODY_ERRORS},
)
def confirm(ctx: Context, principal: Caller, body: Confirm) -> dict[str, int]:
    with ctx.engine.begin() as conn:
        if body.upto > outbox_repo.last_id(conn):
            raise ApiError(
                422,
                "beyond-feed",
                "确认位置超出已有回执",
                "cannot confirm beyond the last receipt",
                field="upto",
            )
        return {"position": feeds.confirm(conn, consumer(principal), body.upto)}


@router.get(
    "/v1/receipts/{receipt_id}",
    summary="One receipt as CEB XML / 单个回执",
    response_class=Response,
    responses={
        200: {
            "description": "the receipt, as the platform signed and sent it",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        },
        **AUTH_ERRORS,
        **error_responses(404),
    },
)
def one_receipt(
    ctx: Context, principal: Caller, receipt_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    with ctx.engine.connect() as conn:
        rows = outbox_repo.by_ids(conn, [receipt_id])
    if not rows or rows[0].recipient not in principal.codes:
        raise ApiError(404, "not-found", "没有该回执", "no such receipt addressed to you")
    return Response(rows[0].xml, media_type="application/xml")
