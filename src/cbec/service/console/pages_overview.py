"""The overview (总览): the day's message volumes, list decisions and release rate, refusals by reason and
decision latency, for whatever the reader may see (an administrator: everything)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from threading import Lock
from time import monotonic
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from cbec.rights import Principal
from cbec.rules.lifecycle import CHINA
from cbec.service.console import charts, i18n
from cbec.service.console.render import lang_of, page
from cbec.service.console.session import ConsoleError, context, current_user, is_admin, is_officer
from cbec.store import console_queries as q
from cbec.store.schema import decision, inbox

router = APIRouter()


def scope_of(p: Principal) -> q.Scope:
    if is_admin(p):
        return q.Scope(everything=True)
    if is_officer(p):
        return q.Scope(district=p.district) if p.district else q.Scope()
    return q.Scope(codes=tuple(sorted(p.codes)))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A Beijing calendar day as UTC instants (customs' day; China has no daylight saving)."""
    start = datetime.combine(day, time(0), tzinfo=CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


Figures = tuple[dict[str, int], dict[int, int], list[q.RejectionGroup], q.Latency]


def _figures(engine: Engine, scope: q.Scope, which: date) -> Figures:
    start, end = day_bounds(which)
    with engine.connect() as conn:
        in_lo, in_hi = q.id_range(conn, inbox, inbox.c.received_at, start, end)
        d_lo, d_hi = q.id_range(conn, decision, decision.c.decided_at, start, end)
        senders = None if scope.everything else list(scope.codes)
        volumes = q.volumes_by_type(conn, in_lo, in_hi, senders) if not scope.district else {}
        statuses = q.lists_by_status(conn, d_lo, d_hi, scope) if not scope.empty else {}
        refusals = q.rejections(conn, d_lo, d_hi, scope) if not scope.empty else []
        lat = q.latency(conn, d_lo, d_hi, scope) if not scope.empty else q.Latency((), 0, None, None)
    return volumes, statuses, refusals, lat


class FigureCache:
    """The figures of a (database, scope, day) for a few seconds: a day of a million parcels takes about a
    second to aggregate, and an overview left open, or opened by many officers of one district, should not
    redo it on every view."""

    def __init__(self, seconds: float = 20.0, size: int = 256) -> None:
        self._seconds = seconds
        self._size = size
        self._items: dict[tuple[str, q.Scope, date], tuple[float, Figures]] = {}
        self._lock = Lock()

    def get(self, key: tuple[str, q.Scope, date], compute: Callable[[], Figures]) -> Figures:
        now = monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = compute()
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[key] = (now + self._seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


FIGURES = FigureCache()


@router.get("/console/overview", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, day: Annotated[str | None, Query(max_length=10)] = None) -> HTMLResponse:
    user = current_user(request)
    ctx = context(request)
    lang = lang_of(request)
    try:
        which = date.fromisoformat(day) if day else ctx.clock().astimezone(CHINA).date()
    except ValueError:
        raise ConsoleError(
            422, f"日期格式应为 YYYY-MM-DD：{day}", f"the day must be YYYY-MM-DD: {day}"
        ) from None
    scope = scope_of(user)
    key = (ctx.engine.url.render_as_string(hide_password=True), scope, which)
    volumes, statuses, refusals, lat = FIGURES.get(key, lambda: _figures(ctx.engine, scope, which))
    if scope.district:  # officers: the lists of their district that entered customs' system today
        entered = sum(n for s, n in statuses.items() if s != 100)
        volumes = {"CEB621Message": entered} if entered else {}
    decided = sum(statuses.values())
    rate = statuses.get(800, 0) / decided if decided else None
    status_labels = [i18n.status_word(s, lang) for s in sorted(statuses)]
    latency_labels = [i18n.pick(x, lang) for x in i18n.LATENCY_LABELS]
    t = i18n.translator(lang)
    figures = {
        "volumes": charts.bar("chart-volumes", t("chart_volumes"), list(volumes), list(volumes.values()))
        if volumes
        else None,
        "lists": charts.pie(
            "chart-lists", t("chart_lists"), status_labels, [statuses[s] for s in sorted(statuses)]
        )
        if statuses
        else None,
        "rejections": charts.bar(
            "chart-rejections",
            t("chart_rejections"),
            [f"{r.rule} {r.code or ''}".strip() for r in refusals],
            [r.count for r in refusals],
            color="#cf222e",
        )
        if refusals
        else None,
        "latency": charts.bar(
            "chart-latency", t("chart_latency"), latency_labels, list(lat.buckets), color="#8250df"
        )
        if lat.count
        else None,
    }
    scope_word = "scope_all" if scope.everything else "scope_district" if scope.district else "scope_codes"
    return page(
        request,
        "overview.html",
        user,
        day=which.isoformat(),
        scope_word=scope_word,
        volumes=volumes,
        statuses=statuses,
        decided=decided,
        rate=rate,
        refusals=refusals,
        latency=lat,
        latency_labels=latency_labels,
        figures=figures,
        plotly_config=charts.PLOTLY_CONFIG,
        latency_sample=q.LATENCY_SAMPLE,
    )
