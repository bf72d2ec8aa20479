"""The console (管理控制台): server-rendered pages for customs officers, enterprises and administrators.

``install(app)`` adds the pages under ``/console`` and the handlers that turn a missing login into a
redirect to the login page and a refusal into an error page in the reader's language.  See
``docs/console.md``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from cbec.service.console import (
    pages_auth,
    pages_enterprise,
    pages_exports,
    pages_gate,
    pages_ledger,
    pages_officer,
    pages_overview,
    pages_returns,
    pages_search,
    pages_warehouse,
)
from cbec.service.console.render import error_page
from cbec.service.console.session import ConsoleError, LoginNeeded, current_user

__all__ = ["install"]


def install(app: FastAPI) -> None:
    pages = (pages_auth, pages_overview, pages_officer, pages_search, pages_enterprise, pages_ledger)
    for module in (*pages, pages_warehouse, pages_gate, pages_exports, pages_returns):
        app.include_router(module.router)

    @app.exception_handler(LoginNeeded)
    async def _login(_request: Request, exc: LoginNeeded) -> Response:
        return RedirectResponse(f"/console/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.exception_handler(ConsoleError)
    async def _refused(request: Request, exc: ConsoleError) -> Response:
        try:
            user = current_user(request)
        except LoginNeeded:
            user = None
        return error_page(request, user, exc.status, exc.zh, exc.en)
