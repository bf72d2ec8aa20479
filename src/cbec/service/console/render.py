"""Turning a template and its data into a page: the Jinja environment, the navigation, error pages.

Templates are autoescaped (every value a sender or officer typed is shown as text, never as markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cbec.rights import Principal, Role
from cbec.service.console import i18n
from cbec.service.console.session import QUOTA_ROLES, is_enterprise, is_officer

TEMPLATES = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    word: str


def navigation(p: Principal | None) -> list[NavItem]:
    """What a role may open: each page also checks the role itself, this only avoids showing dead links."""
    if p is None:
        return []
    items = [NavItem("/console/overview", "overview")]
    if is_officer(p):
        items += [
            NavItem("/console/queue/review", "queue_review"),
            NavItem("/console/queue/inspection", "queue_inspection"),
        ]
    if is_enterprise(p):
        items += [
            NavItem("/console/receipts", "receipts"),
            NavItem("/console/rejections", "rejections"),
            NavItem("/console/tax", "tax"),
            NavItem("/console/documents", "documents"),
        ]
    items.append(NavItem("/console/search", "search"))
    if is_enterprise(p) or p.roles & {Role.OFFICER, Role.ADMIN}:
        items += [NavItem("/console/exports", "exports"), NavItem("/console/summaries", "summaries")]
    if is_enterprise(p) or p.roles & {Role.OFFICER, Role.ADMIN}:
        items.append(NavItem("/console/returns", "returns"))
    if p.roles & {Role.OPERATOR, Role.OFFICER, Role.ADMIN}:
        items.append(NavItem("/console/ledgers", "ledgers"))
    if p.roles & {Role.OPERATOR, Role.OFFICER, Role.ADMIN} or any(g.role is Role.OPERATOR for g in p.grants):
        items.append(NavItem("/console/warehouse-entries", "warehouse_entries"))
        items.append(NavItem("/console/gate", "gate"))
    if p.roles & QUOTA_ROLES:
        items.append(NavItem("/console/quota", "quota"))
    return items


def lang_of(request: Request) -> str:
    return i18n.choose(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def page(
    request: Request,
    template: str,
    user: Principal | None,
    *,
    status: int = 200,
    **data: Any,
) -> HTMLResponse:
    lang = lang_of(request)
    t = i18n.translator(lang)
    html = _env.get_template(template).render(
        t=t,
        lang=lang,
        user=user,
        roles=sorted(str(r) for r in user.roles) if user else [],
        nav=navigation(user),
        path=request.url.path,
        here=request.url.path,
        status_word=lambda s: i18n.status_word(s, lang),
        pick=lambda pair: i18n.pick(pair, lang),
        bi=lambda zh, en: en if lang == "en" else zh,
        Role=Role,
        bill_status=i18n.BILL_STATUS,
        lang_links={code: _with_lang(request, code) for code in i18n.LANGS},
        **data,
    )
    response = HTMLResponse(html, status_code=status)
    asked = request.query_params.get("lang")
    if asked in i18n.LANGS:
        response.set_cookie(
            i18n.LANG_COOKIE, asked, max_age=365 * 86400, path="/console", samesite="strict", httponly=True
        )
    return response


def _with_lang(request: Request, lang: str) -> str:
    """This page in another language; an unmasked view is not repeated (it would be another audited read)."""
    keep = {k: v for k, v in request.query_params.items() if k not in ("lang", "unmask", "purpose", "done")}
    return request.url.path + "?" + urlencode({**keep, "lang": lang})


def error_page(request: Request, user: Principal | None, status: int, zh: str, en: str) -> HTMLResponse:
    title = {403: "forbidden", 404: "not_found"}.get(status, "error")
    return page(request, "error.html", user, status=status, title=title, zh=zh, en=en, code=status)
