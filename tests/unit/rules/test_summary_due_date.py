"""When the monthly summary declaration is due: the 15th of the next month (A-2018-194 §10), moved to the next
working day past rest days and public holidays, with China's adjusted working days (调休上班) counted as
working days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cbec.params.calendar import china_calendar, parse_calendar
from cbec.params.dated import ParameterSet
from cbec.rules.summary import due_date

CAL = china_calendar()


@pytest.mark.parametrize(
    ("period", "due", "why"),
    [
        # 2024-02-15 is inside the Spring Festival (02-10..17); 02-18 is a Sunday declared a working day
        ("2024-01", date(2024, 2, 18), "春节"),
        # 2025-02-15/16 are a plain weekend after the Spring Festival (01-28..02-04)
        ("2025-01", date(2025, 2, 17), "休息日"),
        # 2026-02-15..23 Spring Festival (9 days): due the Tuesday after
        ("2026-01", date(2026, 2, 24), "春节"),
        # 2026-11-15 is a Sunday
        ("2026-10", date(2026, 11, 16), "休息日"),
        # 2024-06-15 is a Saturday
        ("2024-05", date(2024, 6, 17), "休息日"),
    ],
)
def test_due_date_moves_past_rest_days_and_holidays(period: str, due: date, why: str) -> None:
    d = due_date(period)
    assert d.due == due
    assert d.nominal.day == 15 and d.nominal < due
    assert d.skipped and all(why in s for s in d.skipped if s.startswith(d.nominal.isoformat()))
    assert d.calendar_published
    assert "2018年第194号" in d.deadline_reference.source


@pytest.mark.parametrize("period", ["2024-09", "2025-09", "2026-09", "2024-12", "2025-03"])
def test_a_working_15th_is_the_due_date(period: str) -> None:
    d = due_date(period)
    assert d.due == d.nominal and d.skipped == ()


def test_national_day_and_its_adjusted_working_days() -> None:
    # the 15th never falls in the National Day week, but the working days around it are the table's
    assert not CAL.is_working_day(date(2025, 10, 8))  # National Day + Mid-Autumn, 8 days in 2025
    assert CAL.on_or_after(date(2025, 10, 1)) == date(2025, 10, 9)
    assert CAL.is_working_day(date(2025, 10, 11))  # Saturday, adjusted working day
    assert CAL.is_working_day(date(2024, 9, 29))  # Sunday, adjusted working day
    assert CAL.on_or_after(date(2024, 10, 5)) == date(2024, 10, 8)
    assert CAL.on_or_after(date(2026, 10, 3)) == date(2026, 10, 8)
    holiday = CAL.holiday_on(date(2026, 10, 6))
    assert holiday is not None and "国庆节" in holiday.name


def test_a_deadline_inside_national_day_moves_to_the_next_working_day() -> None:
    # an operator's deadline on the 1st (what-if): September's summary due after the National Day week
    params = ParameterSet.from_yaml(
        """
parameters:
  - name: export.retail.summary.deadline_day
    description: test
    unit: day of month
    values:
      - from: 2019-01-01
        value: 1
        reference: {source: test, clause: test}
"""
    )
    assert due_date("2025-09", params).due == date(2025, 10, 9)
    assert due_date("2024-09", params).due == date(2024, 10, 8)


def test_unpublished_year_falls_back_to_weekends_and_says_so() -> None:
    assert not CAL.published(2027)
    d = due_date("2026-12")  # 2027-01-15 is a Friday
    assert d.due == date(2027, 1, 15) and not d.calendar_published and d.calendar_source is None
    later = due_date("2027-04")  # 2027-05-15 is a Saturday
    assert later.due == date(2027, 5, 17) and not later.calendar_published


def test_table_years_are_complete_and_consistent() -> None:
    for year in (2024, 2025, 2026):
        assert CAL.published(year)
        source = CAL.source(year)
        assert source is not None and "国务院办公厅" in source.source
        names = " ".join(h.name for h in CAL.holidays(year))
        for festival in ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"):
            assert festival in names, (year, festival)
    # statutory days off per year: 11 before 2025, 13 from 2025 (+1 Spring Festival, +1 Labour Day); with
    # the weekends folded in, each year has fewer working days than weekdays minus 11
    for year, minimum in ((2024, 11), (2025, 13), (2026, 13)):
        days = [
            date(year, 1, 1) + timedelta(days=k)
            for k in range(366)
            if (date(year, 1, 1) + timedelta(days=k)).year == year
        ]
        weekday_holidays = sum(1 for d in days if d.weekday() < 5 and not CAL.is_working_day(d))
        weekend_work = sum(1 for d in days if d.weekday() >= 5 and CAL.is_working_day(d))
        assert weekday_holidays - weekend_work == minimum, year


def test_bad_tables_are_refused() -> None:
    bad = """
years:
  - year: 2030
    source: x
    reference: x
    confidence: guess
    holidays: [{name: x, from: 2030-01-01, to: 2030-01-01}]
    working_days: [2030-01-02]
"""
    with pytest.raises(ValueError, match="adjusted working day"):
        parse_calendar(bad)
