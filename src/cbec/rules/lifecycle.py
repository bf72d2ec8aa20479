"""The import list after its first decision (清单后续处置): which moves are legal, the return window, shares.

Pure rules: no database, no files.  Statuses are the CEB ``returnStatus`` values of the CEB622 receipt
(regime reference §3.2): 300 manual review (人工审核), 500 inspection (查验), 501/502/503/599 detention
(扣留: passed to clearance / anti-smuggling / legal, other), 700 returned abroad (退运),
399 concluded (海关审结), 800 released (放行), 100 refused (退单), 899 closed (结关).

What an officer may record, and what follows:

===============  ======================  =========================  ==========================================
held at          result                  receipts (CEB622)          quota and tax
===============  ======================  =========================  ==========================================
300              ``release``             399, then 800              stay counted / billed (they were at 300)
300              ``refuse``              100 with a code            quota given back, tax bill void
500              ``pass``                800                        stay
500              ``detain-clearance``    501                        stay while detained
500              ``detain-smuggling``    502                        stay while detained
500              ``detain-legal``        503                        stay while detained
500              ``detain-other``        599                        stay while detained
500, 50x, 599    ``return``              700 (returned abroad)      quota given back, tax bill void
501–503, 599     ``pass``                800                        stay
===============  ======================  =========================  ==========================================

Lists held at 300 or 500 have already counted against the buyer's annual quota and have an e-tax bill: the
engine books both when a list enters customs' system (120), whatever the risk hook then decides.  A list that
does not end up imported (refused after review, returned abroad, cancelled) therefore gives both back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from cbec.params.dated import ParameterSet

REFUSED, ACCEPTED, REVIEW, CONCLUDED, INSPECTION, RELEASED = 100, 120, 300, 399, 500, 800
DETAINED_CLEARANCE, DETAINED_SMUGGLING, DETAINED_LEGAL, DETAINED_OTHER = 501, 502, 503, 599
RETURNED_ABROAD, CLOSED = 700, 899
DETAINED = (DETAINED_CLEARANCE, DETAINED_SMUGGLING, DETAINED_LEGAL, DETAINED_OTHER)

#: The parameter giving the return-application window (退货申请时限), in days after list release.
RETURN_WINDOW = "import.retail.return.application_days"
GOODS_BACK = "import.retail.return.goods_back_days"
#: Customs dates are Beijing dates (UTC+8, no daylight saving).
CHINA = timezone(timedelta(hours=8))
#: Code of a refusal after manual review: the spec has no code of its own for it; −621003 is its generic
#: "清单申报失败，[*]" (list declaration failed: [*]), the officer's reason filling the placeholder.
REVIEW_REFUSAL_CODE = "-621003"

STATUS_NAMES: Mapping[int, tuple[str, str]] = {
    REFUSED: ("海关退单", "refused by customs"),
    ACCEPTED: ("海关入库", "accepted into customs' system"),
    REVIEW: ("人工审核", "manual review"),
    CONCLUDED: ("海关审结", "concluded by customs"),
    INSPECTION: ("查验", "inspection"),
    DETAINED_CLEARANCE: ("扣留移送通关", "detained, passed to the clearance department"),
    DETAINED_SMUGGLING: ("扣留移送缉私", "detained, passed to the anti-smuggling bureau"),
    DETAINED_LEGAL: ("扣留移送法规", "detained, passed to the legal department"),
    DETAINED_OTHER: ("其它扣留", "detained (other)"),
    RETURNED_ABROAD: ("退运", "returned abroad"),
    RELEASED: ("放行", "released"),
    CLOSED: ("结关", "closed"),
}


def status_zh(status: int) -> str:
    """``800（放行）``: a status for a Chinese message."""
    name = STATUS_NAMES.get(status)
    return f"{status}（{name[0]}）" if name else str(status)


def status_en(status: int) -> str:
    """``800 (released)``: a status for an English message."""
    name = STATUS_NAMES.get(status)
    return f"{status} ({name[1]})" if name else str(status)


class LifecycleError(ValueError):
    """A move the rules do not allow (nothing was changed); the message is in Chinese and English."""

    def __init__(self, zh: str, en: str, *, code: str | None = None) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.code = code


@dataclass(frozen=True, slots=True)
class Transition:
    """One kind of officer's result: from which statuses, the statuses it sends (in order), its effects."""

    kind: str
    result: str
    from_statuses: tuple[int, ...]
    chain: tuple[int, ...]
    gives_back: bool
    """True: the list will not be imported, so its quota is given back and its tax bill is void."""
    needs_reason: bool
    zh: str
    en: str

    @property
    def to_status(self) -> int:
        return self.chain[-1]


_HELD_FOR_INSPECTION = (INSPECTION, *DETAINED)
OFFICER_TRANSITIONS: Mapping[tuple[str, str], Transition] = {
    (t.kind, t.result): t
    for t in (
        Transition("review", "release", (REVIEW,), (CONCLUDED, RELEASED), False, False,
                   "人工审核通过，海关放行", "released after manual review"),
        Transition("review", "refuse", (REVIEW,), (REFUSED,), True, True,
                   "人工审核不通过，海关退单", "refused after manual review"),
        Transition("inspection", "pass", _HELD_FOR_INSPECTION, (RELEASED,), False, False,
                   "查验正常，海关放行", "inspection passed; released"),
        Transition("inspection", "detain-clearance", (INSPECTION,), (DETAINED_CLEARANCE,), False, True,
                   "查验异常，扣留移送通关", "detained after inspection; passed to clearance"),
        Transition("inspection", "detain-smuggling", (INSPECTION,), (DETAINED_SMUGGLING,), False, True,
                   "查验异常，扣留移送缉私", "detained after inspection; passed to anti-smuggling"),
        Transition("inspection", "detain-legal", (INSPECTION,), (DETAINED_LEGAL,), False, True,
                   "查验异常，扣留移送法规", "detained after inspection; passed to the legal department"),
        Transition("inspection", "detain-other", (INSPECTION,), (DETAINED_OTHER,), False, True,
                   "查验异常，其它扣留", "detained after inspection (other)"),
        Transition("inspection", "return", _HELD_FOR_INSPECTION, (RETURNED_ABROAD,), True, True,
                   "查验处置：退运出境", "returned abroad after inspection"),
    )
}  # fmt: skip

RESULTS: Mapping[str, tuple[str, ...]] = {
    "review": tuple(r for k, r in OFFICER_TRANSITIONS if k == "review"),
    "inspection": tuple(r for k, r in OFFICER_TRANSITIONS if k == "inspection"),
}


def officer_transition(kind: str, result: str, status: int) -> Transition:
    """The transition an officer's ``result`` makes from ``status``; LifecycleError if it is not allowed."""
    t = OFFICER_TRANSITIONS.get((kind, result))
    if t is None:
        choices = ", ".join(RESULTS.get(kind, ()))
        raise LifecycleError(
            f"未知的{'审核' if kind == 'review' else '查验'}结果“{result}”（可选：{choices}）",
            f"unknown {kind} result {result!r} (choose one of: {choices})",
        )
    if status not in t.from_statuses:
        held = "、".join(status_zh(s) for s in t.from_statuses)
        raise LifecycleError(
            f"清单状态为{status_zh(status)}，不能记录{'人工审核' if kind == 'review' else '查验'}结果"
            f"“{result}”（只适用于{held}）",
            f"the list is at {status_en(status)}: a {kind} result {result!r} applies only to lists at "
            + ", ".join(status_en(s) for s in t.from_statuses),
        )
    return t


# --- dates ------------------------------------------------------------------------------------------------
def customs_date(at: datetime) -> date:
    """The Beijing date of a moment (naive datetimes are taken as UTC, as everywhere in cbec)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return aware.astimezone(CHINA).date()


def return_window_days(released_at: datetime, params: ParameterSet) -> int:
    """Days after release within which a return may be applied for, as in force on the release date."""
    return params.int_at(RETURN_WINDOW, customs_date(released_at))


def return_deadline(released_at: datetime, params: ParameterSet) -> date:
    """Last day (Beijing date) on which a return may be applied for.

    "自放行之日起30日内": the day of release is not counted (as for any period counted in days under PRC
    law), so a list released on 1 March may be returned until 31 March inclusive.
    """
    return customs_date(released_at) + timedelta(days=return_window_days(released_at, params))


def goods_back_deadline(released_at: datetime, params: ParameterSet) -> date:
    """Last day (Beijing date) by which returned goods must be back at the original site, zone or B-centre
    (A-2020-45: 放行之日起45日内运抵), counted like :func:`return_deadline`."""
    return customs_date(released_at) + timedelta(days=params.int_at(GOODS_BACK, customs_date(released_at)))


def within_return_window(released_at: datetime, applied_at: datetime, params: ParameterSet) -> bool:
    return customs_date(applied_at) <= return_deadline(released_at, params)


def closable(released_at: datetime, as_of: date, params: ParameterSet) -> bool:
    """A released list closes (结关) once its return window has passed: on the day after the deadline."""
    return as_of > return_deadline(released_at, params)


# --- returned shares -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LineValue:
    """One original list line: its quantity and its dutiable value and taxes in fen."""

    gnum: int
    qty: Decimal
    dutiable_fen: int
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int


@dataclass(frozen=True, slots=True)
class LineShare:
    gnum: int
    qty: Decimal
    dutiable_fen: int
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int


def _share(amount: int, part: Decimal, whole: Decimal) -> int:
    if whole <= 0:
        return 0
    return int((Decimal(amount) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def returned_shares(
    original: Mapping[int, LineValue],
    before: Mapping[int, LineShare],
    requested: Mapping[int, Decimal],
) -> list[LineShare]:
    """The share of each original line a return takes back, in fen.

    ``before`` is what earlier returns took (summed per line).  A return takes the line's amounts for the
    quantity returned so far, ``amount × (qty before + qty) / original qty`` rounded to the fen, less what
    earlier returns took; the return that brings a line back completely takes what is left of it.  Rounding
    the running total rather than each part keeps every share at zero or more (three parts of a 3-fen line
    rounded separately would give back 4) and makes a list returned in parts give back exactly its whole
    value and taxes, never a fen more or less.
    """
    out = []
    for gnum, qty in sorted(requested.items()):
        line = original[gnum]
        prev = before.get(gnum)
        prev_qty = prev.qty if prev else Decimal(0)
        amounts = (line.dutiable_fen, line.customs_tax_fen, line.vat_fen, line.ct_fen)
        taken = (prev.dutiable_fen, prev.customs_tax_fen, prev.vat_fen, prev.ct_fen) if prev else (0, 0, 0, 0)
        if prev_qty + qty >= line.qty:
            values = [a - t for a, t in zip(amounts, taken, strict=True)]
        else:
            values = [
                max(_share(a, prev_qty + qty, line.qty) - t, 0) for a, t in zip(amounts, taken, strict=True)
            ]
        out.append(LineShare(gnum, qty, *values))
    return out


def fully_returned(original: Mapping[int, LineValue], returned: Sequence[Mapping[int, LineShare]]) -> bool:
    """Whether every line of the list has come back in full, counting all the given returns."""
    totals: dict[int, Decimal] = {}
    for part in returned:
        for gnum, share in part.items():
            totals[gnum] = totals.get(gnum, Decimal(0)) + share.qty
    return all(totals.get(g, Decimal(0)) >= line.qty for g, line in original.items())
