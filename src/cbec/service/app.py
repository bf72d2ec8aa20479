"""The FastAPI application of ``cbec serve``: routes, error shapes, and the background jobs' lifetime.

:func:`create_app` takes everything from its arguments (database, parameters, settings), so tests build an
app on a temporary database and run it in-process or under uvicorn exactly as ``cbec serve`` does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

import cbec
from cbec.engine.buyer_key import secret_for
from cbec.params import default_parameters
from cbec.params.dated import ParameterSet
from cbec.params.hs import HsTable, load_cbec_hs
from cbec.privacy import install_log_redaction
from cbec.service.clearing import ClearingLoop
from cbec.service.console import install as install_console
from cbec.service.context import ServiceContext, ServiceSettings
from cbec.service.credential_cache import CredentialCache
from cbec.service.deps import ApiError, error_response
from cbec.service.intake_queue import IntakeQueue
from cbec.service.routes import (
    gate,
    ledgers,
    messages,
    parcels,
    receipts,
    returns,
    subscriptions,
    summaries,
    warehouse_entries,
)
from cbec.service.warmup import warm_routes, warm_up
from cbec.service.webhooks import Deliverer
from cbec.store.checkpoints import Checkpointer
from cbec.store.data_key import keyring_for
from cbec.store.gate_journal import open_journal
from cbec.store.spool import open_spool


def create_app(
    engine: Engine,
    *,
    settings: ServiceSettings | None = None,
    params: ParameterSet | None = None,
    hs: HsTable | None = None,
) -> FastAPI:
    settings = settings or ServiceSettings()
    ctx = ServiceContext(
        engine=engine,
        params=params or default_parameters(),
        hs=hs or load_cbec_hs(),
        settings=settings,
        buyer_secret=secret_for(engine),
        data_keys=keyring_for(engine),
    )
    if settings.intake_spool:
        ctx.spool = open_spool(engine.url.render_as_string(hide_password=False))
    if settings.gate_journal:
        ctx.gate_journal = open_journal(engine.url.render_as_string(hide_password=False))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()
        threads: list[tuple[Any, threading.Thread]] = []
        if settings.clearing:
            loop = ClearingLoop(engine, params=ctx.params, hs=ctx.hs, outbox=settings.outbox)
            ctx.clearing = loop
            threads.append((loop, threading.Thread(target=loop.run, name="cbec-clearing", daemon=True)))
        if engine.dialect.name == "sqlite":
            checkpointer = Checkpointer(engine)
            threads.append(
                (checkpointer, threading.Thread(target=checkpointer.run, name="cbec-wal", daemon=True))
            )
        if settings.webhooks:
            deliverer = Deliverer(engine)
            threads.append(
                (deliverer, threading.Thread(target=deliverer.run, name="cbec-webhooks", daemon=True))
            )
        for _job, thread in threads:
            thread.start()
        if settings.warm_up:
            warm_up(engine, ctx.spool, ctx.gate_journal)
        ctx.intake = IntakeQueue(ctx)
        ctx.intake.start()
        if settings.warm_up:
            await warm_routes(_app)
        try:
            yield
        finally:
            ctx.intake.stop()
            ctx.intake = None
            for job, _thread in threads:
                job.stop()
            for _job, thread in threads:
                thread.join(timeout=30)

    app = FastAPI(
        title="cbec — cross-border e-commerce clearance / 跨境电商通关服务平台",
        version=cbec.__version__ if hasattr(cbec, "__version__") else "0.1.0",
        description="Send CEB messages, read receipts and parcel histories, pre-check a checkout, subscribe "
        'webhooks.  Authenticate with `X-API-Key`.  Errors: `{"error": {status, code, reason_zh, reason_en, '
        "field}}`.",
        lifespan=lifespan,
    )
    ctx.credentials = CredentialCache(settings.credential_cache_seconds)
    app.state.cbec = ctx

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(exc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing's own refusals (no such path, wrong method) in the API's error shape, so a client
        # parses one shape for every 4xx; other pages (the console) keep FastAPI's default answer.
        if not _is_api(request):
            return await http_exception_handler(request, exc)
        zh, en = _HTTP_REASONS.get(exc.status_code, ("请求有误", str(exc.detail)))
        field = "body" if exc.status_code == 400 else None  # FastAPI's only 400: a body it cannot parse
        return JSONResponse(
            {
                "error": {
                    "status": exc.status_code,
                    "code": f"http-{exc.status_code}",
                    "reason_zh": zh,
                    "reason_en": en,
                    "field": field,
                }
            },
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, _exc: Exception) -> Response:
        # A bug, not the client's fault: say so in the usual shape; the traceback goes to the log
        # (Starlette re-raises after this answer), never to the client.
        if not _is_api(request):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return JSONResponse(
            {
                "error": {
                    "status": 500,
                    "code": "internal",
                    "reason_zh": "服务内部错误，请求未完成",
                    "reason_en": "internal error; the request was not completed",
                    "field": None,
                }
            },
            status_code=500,
        )

    @app.get("/health", tags=["service"], summary="Liveness and the clearing loop's state")
    def health() -> dict[str, Any]:
        loop = ctx.clearing
        return {
            "status": "ok",
            "process": os.getpid(),  # which process answered (cbec serve --processes N)
            "clearing": None
            if loop is None
            else {"clearedMessages": loop.cleared_messages, "lastError": loop.last_error},
        }

    routes = (messages, receipts, parcels, subscriptions, gate, ledgers, warehouse_entries, summaries)
    for module in (*routes, returns):
        app.include_router(module.router)
    install_console(app)
    return app


_HTTP_REASONS = {
    400: ("请求体无法解析（应为UTF-8编码的JSON）", "the body could not be parsed (JSON in UTF-8 expected)"),
    404: ("没有该接口", "no such endpoint"),
    405: ("该接口不支持此方法", "method not allowed on this endpoint"),
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/v1/", "/health"))


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    """FastAPI's validation errors as ``{"error": …}``, the first problem's field named for the user."""
    problems = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "reason_en": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": None, "reason_en": "invalid request"}
    return {
        "error": {
            "status": 422,
            "code": "invalid-request",
            "reason_zh": f"请求参数不正确（{first['field']}）" if first["field"] else "请求参数不正确",
            "reason_en": first["reason_en"],
            "field": first["field"],
            "problems": problems[:20],
        }
    }
