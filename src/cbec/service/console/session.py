"""Who is using the console: the API key kept in a cookie, resolved to a principal on every request.

Why the key itself in the cookie rather than a server-side session: cbec already has a revocable credential
(the API key, of which the store keeps only a hash), so the console needs no session table and no signing
secret, and revoking the key (`cbec enterprise revoke key`) logs the browser out on its next request.  The
cookie is ``HttpOnly`` (page scripts cannot read it), ``SameSite=Strict`` (no other site can make the browser
send it, which is what protects the console's forms from cross-site requests), limited to ``/console``, and
``Secure`` whenever the console is reached over HTTPS.  POSTs whose ``Origin`` names another host are refused
as a second line against cross-site forms.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from cbec.rights import Decision, Principal, Role
from cbec.rights.roles import TRADE_ROLES
from cbec.service.context import ServiceContext
from cbec.store import enterprises

KEY_COOKIE = "cbec_console_key"
COOKIE_PATH = "/console"
QUOTA_ROLES = frozenset({Role.PLATFORM, Role.ECOMMERCE, Role.OFFICER, Role.ADMIN})


class ConsoleError(Exception):
    """Shown as an error page with the status, in the reader's language."""

    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(f"{status}: {en}")
        self.status = status
        self.zh = zh
        self.en = en


class LoginNeeded(Exception):
    """No valid key: the browser is sent to the login page (and back afterwards)."""

    def __init__(self, next_url: str, zh: str = "", en: str = "") -> None:
        super().__init__(en or "login needed")
        self.next_url = next_url
        self.zh = zh
        self.en = en


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.cbec
    return ctx


def resolve(ctx: ServiceContext, key: str) -> Principal | Decision:
    with ctx.engine.connect() as conn:
        return enterprises.resolve_api_key(conn, key.strip(), at=ctx.clock())


def current_user(request: Request) -> Principal:
    """The logged-in principal, or :class:`LoginNeeded` (an expired or revoked key counts as logged out)."""
    key = request.cookies.get(KEY_COOKIE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not key:
        raise LoginNeeded(here)
    found = resolve(context(request), key)
    if isinstance(found, Decision):
        raise LoginNeeded(here, found.reason_zh, found.reason_en)
    return found


def check_origin(request: Request) -> None:
    """Refuse a form posted from another site (the SameSite cookie already keeps the key out of it)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise ConsoleError(403, "拒绝跨站提交的表单", "form posted from another site refused")


def is_officer(p: Principal) -> bool:
    return Role.OFFICER in p.roles


def is_admin(p: Principal) -> bool:
    return Role.ADMIN in p.roles


def is_enterprise(p: Principal) -> bool:
    return bool(p.roles & TRADE_ROLES)


def require_officer(p: Principal) -> None:
    if not is_officer(p):
        raise ConsoleError(
            403,
            "仅海关关员可使用工作队列和案件处理",
            "only customs officers may use the work queues and cases",
        )


def require_enterprise(p: Principal) -> None:
    if not is_enterprise(p):
        raise ConsoleError(403, "仅备案企业可查看本页", "only filed enterprises may see this page")


def actor(p: Principal) -> str:
    """The account recorded as having acted (officer results, audit rows): the filed code, not a label."""
    return sorted(p.codes)[0] if p.codes else p.name


def safe_next(url: str | None) -> str:
    """Only a path inside the console may follow a login (no open redirect)."""
    if url and url.startswith("/console") and not url.startswith("//"):
        return url
    return "/console/"
