"""Logging in and out, the start page by role, and the console's static files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cbec.rights import Decision
from cbec.service.console import charts
from cbec.service.console.render import STATIC_DIR, page
from cbec.service.console.session import (
    COOKIE_PATH,
    KEY_COOKIE,
    check_origin,
    context,
    current_user,
    is_enterprise,
    is_officer,
    resolve,
    safe_next,
)

router = APIRouter()
STATIC = {
    "console.css": "text/css; charset=utf-8",
}
_plotly: bytes | None = None


@router.get("/console", include_in_schema=False)
@router.get("/console/", include_in_schema=False)
def home(request: Request) -> Response:
    user = current_user(request)
    if is_officer(user):
        return RedirectResponse("/console/queue/review", status_code=303)
    if is_enterprise(user):
        return RedirectResponse("/console/receipts", status_code=303)
    return RedirectResponse("/console/overview", status_code=303)


@router.get("/console/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "login.html", None, next=safe_next(next), problem=None)


@router.post("/console/login", include_in_schema=False)
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console/",
) -> Response:
    check_origin(request)
    found = resolve(context(request), api_key) if api_key.strip() else None
    if found is None or isinstance(found, Decision):
        problem = (
            (found.reason_zh, found.reason_en)
            if isinstance(found, Decision)
            else ("请粘贴 API 密钥", "paste an API key")
        )
        return page(request, "login.html", None, status=401, next=safe_next(next), problem=problem)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        KEY_COOKIE,
        api_key.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=COOKIE_PATH,
    )
    return response


@router.post("/console/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    check_origin(request)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.get("/console/static/plotly.min.js", include_in_schema=False)
def plotly_js() -> Response:
    global _plotly
    if _plotly is None:
        _plotly = charts.plotly_js()
    return Response(
        _plotly,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/console/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    media = STATIC.get(name)
    if media is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data = (STATIC_DIR / name).read_bytes()
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
