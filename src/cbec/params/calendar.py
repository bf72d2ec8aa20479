"""China's working-day calendar: public holidays and adjusted working days (调休), year by year.

Customs deadlines move "to the next working day" when they fall on a holiday or a rest day (the monthly
summary declaration of A-2018-194 §10; tax-payment and return windows elsewhere). In China that is not
"skip weekends": each year the State Council General Office fixes the holidays and swaps some weekend days
for working days (调休上班), and only that notice says what a working day is. The table is rules data
(``data/calendar/cn_public_holidays.yaml``) with each year's notice as its source; a year not yet in the
table falls back to Monday–Friday, and :meth:`WorkingCalendar.published` says so, so a caller can flag the
result instead of presenting a guess as fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["Holiday", "WorkingCalendar", "YearSource", "china_calendar"]


@dataclass(frozen=True, slots=True)
class Holiday:
    name: str
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class YearSource:
    """Where one year's holidays come from (the notice), so a due date can cite it."""

    year: int
    source: str
    reference: str
    confidence: str
    note: str | None = None


class WorkingCalendar:
    """Which days are working days, per the published notices; weekends only for unpublished years."""

    def __init__(self, years: Mapping[int, tuple[YearSource, tuple[Holiday, ...], frozenset[date]]]) -> None:
        self._sources = {y: v[0] for y, v in years.items()}
        self._holidays = {y: v[1] for y, v in years.items()}
        self._off: frozenset[date] = frozenset(
            h.start + timedelta(days=k)
            for _, hs, _ in years.values()
            for h in hs
            for k in range((h.end - h.start).days + 1)
        )
        self._on: frozenset[date] = frozenset(d for _, _, w in years.values() for d in w)
        for y, (_, hs, ws) in years.items():
            for d in ws:
                if d.year != y or d.weekday() < 5 or d in self._off:
                    raise ValueError(f"{y}: {d} cannot be an adjusted working day (weekday or holiday)")
            for h in hs:
                if h.end < h.start or h.start.year != y:
                    raise ValueError(f"{y}: holiday {h.name} {h.start}..{h.end} is not a range of that year")

    def published(self, year: int) -> bool:
        """Whether the year's notice is in the table (else its working days are a weekends-only guess)."""
        return year in self._sources

    def source(self, year: int) -> YearSource | None:
        return self._sources.get(year)

    def holidays(self, year: int) -> tuple[Holiday, ...]:
        return self._holidays.get(year, ())

    def holiday_on(self, day: date) -> Holiday | None:
        for h in self._holidays.get(day.year, ()):
            if h.start <= day <= h.end:
                return h
        return None

    def is_working_day(self, day: date) -> bool:
        if day in self._on:
            return True
        if day in self._off:
            return False
        return day.weekday() < 5

    def on_or_after(self, day: date) -> date:
        """The day itself if it is a working day, else the next working day."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


def _as_date(raw: Any, where: str) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise ValueError(f"{where}: expected YYYY-MM-DD, got {raw!r}") from None


def parse_calendar(text: str, where: str = "<calendar>") -> WorkingCalendar:
    doc = yaml.safe_load(text) or {}
    years: dict[int, tuple[YearSource, tuple[Holiday, ...], frozenset[date]]] = {}
    for raw in doc.get("years", []):
        year = int(raw["year"])
        here = f"{where}: {year}"
        if year in years:
            raise ValueError(f"{here}: year given twice")
        src = YearSource(
            year, str(raw["source"]), str(raw["reference"]), str(raw["confidence"]), raw.get("note")
        )
        hs = tuple(
            Holiday(str(h["name"]), _as_date(h["from"], here), _as_date(h["to"], here))
            for h in raw["holidays"]
        )
        ws = frozenset(_as_date(d, here) for d in raw.get("working_days", []))
        years[year] = (src, hs, ws)
    return WorkingCalendar(years)


@lru_cache(maxsize=1)
def china_calendar() -> WorkingCalendar:
    """The packaged table, parsed once per process."""
    path = resources.files("cbec.params").joinpath("data", "calendar", "cn_public_holidays.yaml")
    return parse_calendar(
        path.read_text(encoding="utf-8"), "cbec.params/data/calendar/cn_public_holidays.yaml"
    )
