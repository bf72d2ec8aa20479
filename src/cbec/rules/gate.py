"""The non-stop gate (无感卡口) and gate-pass (核放单) rules: pure, vectorised, explained.

One gate event is a vehicle at a lane: the plate read by a camera (``vehicleNo``), the electronic plate or
IC card read by RFID (``vehicleIcNo``), the container number read by OCR, and the weighbridge reading.  The
shell finds the pass the vehicle should be travelling under and joins onto each event what the pass says
(plate, IC, container, ``totalWt``, status) and what is known about it now (bound lists not yet released,
lists at inspection, holds and inspection orders).  :func:`decide` then answers LIFT or STOP with every
reason, for one event from an HTTP request or for a whole simulated day in one frame: the same expressions.

Weights are integer **grams** everywhere (a weighbridge reads to 10–20 kg, a parcel to the gram; integers
keep sums exact).  Tolerances are dated parameters (``gate.*`` in ``params/data/parameters/gate.yaml``); no
official value was found, so they are the platform's own, marked as such in their source.

Statuses (``stucd``, regime reference §3.11): 0 applied, 1 approved, 2 passed (single gate), 3 passed the
first gate and 4 the second (double gate), 5 deleted, 6 void.  A pass is approved only when every bound list
is released (CEB status 800 or 899); a pass still at 0 whose lists have all been released since is approved
when its vehicle arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from cbec.params.dated import ParameterSet
from cbec.rules import terms as t

__all__ = [
    "EVENT_SCHEMA",
    "LIFT",
    "PASS_SCHEMA",
    "REASONS",
    "RELEASED_STATUSES",
    "STOP",
    "Reason",
    "Tolerance",
    "decide",
    "decide_rows",
    "inspection_status",
    "normalize_container",
    "normalize_plate",
    "pass_totals_problems",
    "weighbridge_tolerance",
]

LIFT = "LIFT"
STOP = "STOP"

APPLIED, APPROVED, PASSED, FIRST_PASSED, SECOND_PASSED, DELETED, VOID = "0", "1", "2", "3", "4", "5", "6"
#: List statuses that count as released for a gate pass (800 released, 899 cleared/closed).
RELEASED_STATUSES = (800, 899)
#: List statuses of inspection and detention (500 查验, 501–503 扣留移送, 599 其它扣留).
INSPECTION_STATUSES = (500, 501, 502, 503, 599)

#: Gate stages of an event: ``S`` single gate, ``1`` first and ``2`` second gate of a double-gate zone.
#: (status the pass must be at, status after a LIFT)
STAGES: dict[str, tuple[str, str]] = {
    "S": (APPROVED, PASSED),
    "1": (APPROVED, FIRST_PASSED),
    "2": (FIRST_PASSED, SECOND_PASSED),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    zh: str
    en: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "reason_zh": self.zh, "reason_en": self.en}


#: Every reason a vehicle can be stopped for: code → (中文, English).  ``{}`` are filled per event.
REASONS: dict[str, tuple[str, str]] = {
    "no-vehicle-id": (
        "未读到车牌号，也未读到电子车牌/IC卡",
        "neither the plate nor the electronic plate/IC was read",
    ),
    "no-pass": ("未找到该车辆的核放单", "no gate pass was found for this vehicle"),
    "pass-not-approved": ("核放单尚未审批通过（{}）", "the gate pass is not approved yet ({})"),
    "pass-used": (
        "核放单已使用过卡（重复使用）",
        "the gate pass has already been used at the gate (used twice)",
    ),
    "pass-void": ("核放单已删除或作废", "the gate pass was deleted or voided"),
    "first-gate-missing": ("车辆未经过第一道卡口", "the vehicle has not passed the first gate"),
    "plate-mismatch": ("车牌号 {} 与核放单所载 {} 不符", "plate {} differs from {} on the gate pass"),
    "ic-mismatch": (
        "电子车牌/IC卡 {} 与核放单所载 {} 不符",
        "electronic plate/IC {} differs from {} on the pass",
    ),
    "container-mismatch": (
        "集装箱号 {} 与核放单所载 {} 不符",
        "container {} differs from {} on the gate pass",
    ),
    "overweight": (
        "地磅重量 {} kg 超过核放单总重 {} kg，差 {} kg，超出允许误差 {} kg",
        "weighbridge {} kg is over the pass's total {} kg by {} kg, beyond the tolerance of {} kg",
    ),
    "underweight": (
        "地磅重量 {} kg 低于核放单总重 {} kg，差 {} kg，超出允许误差 {} kg",
        "weighbridge {} kg is under the pass's total {} kg by {} kg, beyond the tolerance of {} kg",
    ),
    "no-weight": ("未读到地磅重量", "no weighbridge reading"),
    "bad-stage": ("卡口类型 {} 无效（应为 S 单卡口、1 第一道、2 第二道）", "gate stage {} is not S, 1 or 2"),
    "list-unreleased": ("所绑定清单尚未放行：{}", "bound lists not released yet: {}"),
    "list-inspection": ("所绑定清单处于查验/扣留状态：{}", "bound lists under inspection or detention: {}"),
    "pass-held": ("海关已对该核放单布控：{}", "customs holds this gate pass: {}"),
    "vehicle-held": ("海关已对该车辆布控：{}", "customs holds this vehicle: {}"),
    "list-held": ("海关已对所绑定清单布控：{}", "customs holds bound lists: {}"),
    "inspection-ordered": ("海关已下达查验指令：{}", "customs ordered an inspection: {}"),
}

#: Columns of an event frame (what the gate reports).
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "at": pl.Datetime("us", "UTC"),
    "gate": pl.String(),
    "vehicle_no": pl.String(),
    "vehicle_ic_no": pl.String(),
    "container_no": pl.String(),
    "weight_g": pl.Int64(),
}

#: Columns the shell joins onto each event: the pass found for the vehicle and what is known about it now.
#: All null when no pass was found.
PASS_SCHEMA: dict[str, pl.DataType] = {
    "passport_no": pl.String(),
    "pass_status": pl.String(),
    "pass_vehicle_no": pl.String(),
    "pass_vehicle_ic_no": pl.String(),
    "pass_container_no": pl.String(),
    "pass_total_wt_g": pl.Int64(),
    "lists_unreleased": pl.String(),  # invtNo (or list key) of bound lists not released, comma-separated
    "lists_inspection": pl.String(),  # bound lists under inspection or detention
    "held_pass": pl.String(),  # the reason of an active hold on the pass, else null
    "held_vehicle": pl.String(),
    "held_lists": pl.String(),
    "inspection_ordered": pl.String(),
}


def normalize_plate(text: str | None) -> str | None:
    """Plates as compared: upper case, without spaces, dots or hyphens (``浙A·12345`` = ``浙A12345``)."""
    if text is None:
        return None
    out = "".join(ch for ch in text.upper() if ch not in " ·.-\t")
    return out or None


def normalize_container(text: str | None) -> str | None:
    """Container numbers as compared (ISO 6346 ``MSKU1234565``): upper case, no spaces or hyphens."""
    return normalize_plate(text)


def _norm(col: str) -> pl.Expr:
    expr = pl.col(col).str.to_uppercase().str.replace_all(r"[\s·.\-]", "")
    return pl.when(expr.str.len_chars() > 0).then(expr).otherwise(None)


def inspection_status(status: int) -> bool:
    return status in INSPECTION_STATUSES


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Weighbridge tolerance in force on one day: the larger of a share of ``totalWt`` and a floor."""

    ratio: Decimal
    floor_g: int

    def allowed_g(self, total_g: int) -> int:
        return max(self.floor_g, int(self.ratio * total_g))


def weighbridge_tolerance(params: ParameterSet, on: date) -> Tolerance:
    return Tolerance(
        ratio=params.decimal_at("gate.weighbridge.tolerance_ratio", on),
        floor_g=int(params.decimal_at("gate.weighbridge.tolerance_floor_kg", on) * 1000),
    )


#: ``tolerance_g`` of an event: the larger of the floor and the ratio of the pass's ``totalWt`` in force on
#: the event's day (``_ratio`` and ``_floor_g``, set from the parameters before the rule runs).
TOLERANCE = t.max_of(t.col("_floor_g"), t.col("pass_total_wt_g").times_floor(t.col("_ratio")))


def _checks() -> list[tuple[str, t.Term, tuple[t.Term, ...]]]:
    """(reason code, condition, values quoted in its text) for every reason a vehicle can be stopped for.

    Identifiers are compared as given: callers pass them normalised (:func:`normalize_plate`,
    :func:`normalize_container`, or :func:`normalized` for a frame).  A second use of a pass within the
    frame is found after these (it depends on the events before).  A null comparison (a plate not read, a
    pass without IC) is no reason to stop: only a value that was read and differs is.  The container is the
    exception: a pass with a container and a vehicle without one (or the reverse) is a mismatch.
    """
    c = t.col
    has_pass, status, stage = c("passport_no").is_not_null(), c("pass_status"), c("gate")
    plate, ic, box = c("vehicle_no"), c("vehicle_ic_no"), c("container_no")
    pass_plate, pass_ic, pass_box = c("pass_vehicle_no"), c("pass_vehicle_ic_no"), c("pass_container_no")
    unreleased, inspection = c("lists_unreleased").is_not_null(), c("lists_inspection").is_not_null()
    # a pass still "applied" is approved on arrival once every bound list is released
    approvable = status.eq(t.lit(APPLIED)) & ~unreleased & ~inspection
    effective = t.when(approvable, t.lit(APPROVED), status)
    used = status.is_in([PASSED, SECOND_PASSED]) | (status.eq(t.lit(FIRST_PASSED)) & stage.is_in(["S", "1"]))
    weight, total, allowed = c("weight_g"), c("pass_total_wt_g"), c("tolerance_g")
    diff = weight - total
    weights = (weight.kg_text(), total.kg_text(), diff.abs().kg_text(), allowed.kg_text())
    held = {name: c(name) for name in ("held_pass", "held_vehicle", "held_lists", "inspection_ordered")}
    return [
        ("no-vehicle-id", plate.is_null() & ic.is_null(), ()),
        ("bad-stage", ~stage.is_in(list(STAGES)).fill_null(False), (stage,)),
        ("no-pass", ~has_pass & (plate.is_not_null() | ic.is_not_null()), ()),
        ("pass-not-approved", has_pass & status.eq(t.lit(APPLIED)) & ~approvable, (t.lit("已申请 applied"),)),
        ("pass-used", has_pass & used, ()),
        ("pass-void", has_pass & status.is_in([DELETED, VOID]), ()),
        ("first-gate-missing", has_pass & stage.eq(t.lit("2")) & effective.eq(t.lit(APPROVED)), ()),
        ("plate-mismatch", has_pass & plate.ne(pass_plate), (plate, pass_plate)),
        ("ic-mismatch", has_pass & ic.ne(pass_ic), (ic, pass_ic)),
        ("container-mismatch", has_pass & ~box.eq_missing(pass_box), (box, pass_box)),
        ("no-weight", has_pass & weight.is_null(), ()),
        ("overweight", has_pass & diff.gt(allowed), weights),
        ("underweight", has_pass & (-diff).gt(allowed), weights),
        ("list-unreleased", has_pass & unreleased, (c("lists_unreleased"),)),
        ("list-inspection", has_pass & inspection, (c("lists_inspection"),)),
        *((code, held[name].is_not_null(), (held[name],)) for code, name in _HELD),
    ]


_HELD = (
    ("pass-held", "held_pass"),
    ("vehicle-held", "held_vehicle"),
    ("list-held", "held_lists"),
    ("inspection-ordered", "inspection_ordered"),
)
#: Every check, and each reason's texts (中文, English), built once per process: building the expressions
#: costs more than running them on one event.
CHECKS = _checks()
TEXTS: dict[str, tuple[t.Term, t.Term]] = {
    code: (
        t.formatted(REASONS[code][0], *(a.text() for a in args)),
        t.formatted(REASONS[code][1], *(a.text() for a in args)),
    )
    for code, _cond, args in CHECKS
}
#: New status of the pass after a LIFT, by gate stage (any other stage cannot be lifted: ``bad-stage``).
_AFTER = {stage: after for stage, (_before, after) in STAGES.items()}

_OPTIMIZATIONS = pl.QueryOptFlags(comm_subexpr_elim=False, comm_subplan_elim=False)
_PLAN: list[list[pl.Expr]] = []


def _plan() -> list[list[pl.Expr]]:
    """The Polars steps of :func:`decide` after the tolerance: the reasons, a second use of a pass within
    the frame, the decision.  Built once per process."""
    if _PLAN:
        return _PLAN
    c = pl.col
    first = pl.concat_list(
        [pl.when(cond.expr.fill_null(False)).then(pl.lit(code)) for code, cond, _ in CHECKS]
    ).list.drop_nulls()
    ok = c("reason_codes").list.len() == 0
    # a pass serves one vehicle once: after the first event that can be lifted, later ones are a second use
    ok_i = ok.cast(pl.Int32)
    again = c("passport_no").is_not_null() & ((ok_i.cum_sum() - ok_i).over("passport_no") > 0)
    lifted = c("reason_codes").list.len() == 0
    stage = c("gate")
    _PLAN.extend(
        [
            [first.alias("reason_codes")],
            [again.fill_null(False).alias("_again")],
            [
                pl.when(c("_again") & ~c("reason_codes").list.contains("pass-used"))
                .then(c("reason_codes").list.concat(pl.lit(["pass-used"])))
                .otherwise(c("reason_codes"))
                .alias("reason_codes")
            ],
            [
                pl.when(lifted).then(pl.lit(LIFT)).otherwise(pl.lit(STOP)).alias("decision"),
                pl.when(lifted)
                .then(
                    pl.when(stage == "S")
                    .then(pl.lit(_AFTER["S"]))
                    .when(stage == "1")
                    .then(pl.lit(_AFTER["1"]))
                    .otherwise(pl.lit(_AFTER["2"]))
                )
                .otherwise(None)
                .alias("new_status"),
            ],
        ]
    )
    return _PLAN


def _day(at: object) -> date | None:
    """The UTC day of an event time (a naive time is taken as UTC, as a frame's UTC column does)."""
    if not isinstance(at, datetime):
        return None
    return (at if at.tzinfo is None else at.astimezone(UTC)).date()


def _tolerances(days: Iterable[date | None], params: ParameterSet) -> dict[date, Tolerance] | Tolerance:
    """The tolerances of these days: one (the usual case, a vehicle, a batch, a day) or one per day."""
    found = {d: weighbridge_tolerance(params, d) for d in set(days) if d is not None}
    if len(found) <= 1:
        return next(iter(found.values()), Tolerance(Decimal(0), 0))
    return found


def _tolerance_columns(frame: pl.DataFrame, params: ParameterSet) -> list[pl.Expr]:
    at = frame.get_column("at")
    first, last = at.min(), at.max()
    if isinstance(first, datetime) and isinstance(last, datetime) and first.date() == last.date():
        days: list[date | None] = [first.date()]  # one day: no pass over the dates
    else:
        days = at.dt.date().unique().to_list()
    found = _tolerances(days, params)
    if isinstance(found, Tolerance):
        return [pl.lit(float(found.ratio)).alias("_ratio"), pl.lit(found.floor_g).alias("_floor_g")]
    day = pl.col("at").dt.date()
    return [
        day.replace_strict({d: float(x.ratio) for d, x in found.items()}, return_dtype=pl.Float64).alias(
            "_ratio"
        ),
        day.replace_strict({d: x.floor_g for d, x in found.items()}, return_dtype=pl.Int64).alias("_floor_g"),
    ]


def decide(frame: pl.DataFrame, params: ParameterSet) -> pl.DataFrame:
    """LIFT or STOP for each event (rows of ``EVENT_SCHEMA`` + ``PASS_SCHEMA``), with every reason.

    Adds ``decision`` (LIFT/STOP), ``reason_codes``, ``reasons_zh`` and ``reasons_en`` (three lists of the
    same length, empty on a LIFT), ``new_status`` (the pass's status after a LIFT, else null) and
    ``tolerance_g``.  Events are taken in frame order: when several events in the frame use one pass, only
    the first that could be lifted is, and the later ones are stopped as a second use of the pass.
    Identifiers must come normalised (:func:`normalized`); ``gate`` is ``S``, ``1`` or ``2``.
    """
    missing = [c for c in (*EVENT_SCHEMA, *PASS_SCHEMA) if c not in frame.columns]
    if missing:
        raise ValueError(f"gate events lack columns {missing}")
    empty = pl.lit([], pl.List(pl.String))
    if frame.height == 0:
        return frame.with_columns(
            pl.lit(None, pl.Int64).alias("tolerance_g"),
            *(empty.alias(n) for n in ("reason_codes", "reasons_zh", "reasons_en")),
            pl.lit(None, pl.String).alias("decision"),
            pl.lit(None, pl.String).alias("new_status"),
        )
    lazy = (
        frame.lazy()
        .with_columns(_tolerance_columns(frame, params))
        .with_columns(TOLERANCE.alias("tolerance_g"))
    )
    for step in _plan():
        lazy = lazy.with_columns(step)
    keep = [*frame.columns, "tolerance_g", "reason_codes", "decision", "new_status"]
    out = lazy.select(*keep, empty.alias("reasons_zh"), empty.alias("reasons_en")).collect(
        optimizations=_OPTIMIZATIONS
    )
    stopped = out.get_column("decision") == STOP
    return _worded(out, stopped) if stopped.any() else out


def _worded(out: pl.DataFrame, stopped: pl.Series) -> pl.DataFrame:
    """The reasons' texts of the stopped vehicles, in the order of their codes, and only for the reasons
    that occur (writing every possible text for every vehicle would cost more than the decision itself).

    Position by position over ``reason_codes`` (a vehicle has a handful of reasons at most), each position's
    text chosen among the codes present: one projection, no explode/group/join, so that one stopped
    vehicle costs about what one lifted vehicle does, and a day of them is still one pass over the frame."""
    codes = out.get_column("reason_codes")
    present = [c for c in codes.filter(stopped).explode().unique().to_list() if c is not None]
    width = int(codes.list.len().max() or 0)  # type: ignore[arg-type]

    def worded(lang: int) -> pl.Expr:
        at_position = []
        for i in range(width):
            code = pl.col("reason_codes").list.get(i, null_on_oob=True)
            text: pl.Expr = pl.lit(None, pl.String)
            for name in present:
                text = pl.when(code == name).then(TEXTS[name][lang].expr).otherwise(text)
            at_position.append(text)
        return pl.concat_list(at_position).list.drop_nulls()

    return out.with_columns(worded(0).alias("reasons_zh"), worded(1).alias("reasons_en"))


#: Up to this many events, :func:`decide_rows` runs the rule's terms row by row rather than planning a
#: Polars query: a query's fixed cost (milliseconds for this rule) is more than a few rows cost in Python.
ROW_BY_ROW = 32


def decide_rows(
    rows: Sequence[Mapping[str, Any]], params: ParameterSet, *, row_by_row_up_to: int = ROW_BY_ROW
) -> list[dict[str, Any]]:
    """:func:`decide` for events given as rows (dicts with the ``EVENT_SCHEMA`` + ``PASS_SCHEMA`` keys), in
    the same order: the same decisions, reasons and texts, without a frame for a handful of events (the
    gate's HTTP path, where a Polars plan would cost more than the rest of the request)."""
    columns = (*EVENT_SCHEMA, *PASS_SCHEMA)
    if len(rows) > row_by_row_up_to:
        frame = pl.DataFrame(
            [{k: r[k] for k in columns} for r in rows], schema={**EVENT_SCHEMA, **PASS_SCHEMA}, orient="row"
        )
        return decide(frame, params).to_dicts()
    if rows:
        missing = [c for c in columns if c not in rows[0]]
        if missing:
            raise ValueError(f"gate events lack columns {missing}")
    days = [_day(r["at"]) for r in rows]
    found = _tolerances(days, params)
    lifted: set[str] = set()  # passes an earlier event of these rows could use
    out: list[dict[str, Any]] = []
    for row, day in zip(rows, days, strict=True):
        r: dict[str, Any] = {k: row[k] for k in columns}
        tol = found if isinstance(found, Tolerance) else found.get(day) if day is not None else None
        r["_ratio"], r["_floor_g"] = (float(tol.ratio), tol.floor_g) if tol is not None else (None, None)
        r["tolerance_g"] = TOLERANCE.fn(r)
        codes = [code for code, cond, _ in CHECKS if cond.fn(r) is True]
        passport = r["passport_no"]
        if passport is not None:
            if passport in lifted and "pass-used" not in codes:
                codes.append("pass-used")
            elif not codes:
                lifted.add(passport)
        r["reason_codes"] = codes
        r["reasons_zh"] = [TEXTS[c][0].fn(r) for c in codes]
        r["reasons_en"] = [TEXTS[c][1].fn(r) for c in codes]
        r["decision"] = STOP if codes else LIFT
        r["new_status"] = None if codes else _AFTER.get(r["gate"], _AFTER["2"])
        del r["_ratio"], r["_floor_g"]
        out.append(r)
    return out


def normalized(frame: pl.DataFrame) -> pl.DataFrame:
    """The identifier columns of a frame as :func:`decide` compares them (see :func:`normalize_plate`)."""
    return frame.with_columns(
        _norm(name).alias(name)
        for name in (
            "vehicle_no",
            "vehicle_ic_no",
            "container_no",
            "pass_vehicle_no",
            "pass_vehicle_ic_no",
            "pass_container_no",
        )
        if name in frame.columns
    )


# --- filing a pass: totals -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PassTotals:
    """What a pass declares, in grams, and what its bound lists add up to."""

    vehicle_wt_g: int
    frame_wt_g: int
    container_wt_g: int
    total_gross_wt_g: int
    total_net_wt_g: int
    total_wt_g: int
    lists_gross_g: int
    lists_net_g: int


def pass_totals_problems(totals: PassTotals, params: ParameterSet, on: date) -> list[Reason]:
    """Why the declared totals of a pass cannot be accepted (empty: they can).

    ``totalWt`` must be vehicle + frame + container + cargo gross (within the rounding allowed); the cargo
    gross and net weights must agree with the bound lists' weights within the cargo tolerance (packing and
    pallets make a consolidated load a little heavier than its parcels).
    """
    out: list[Reason] = []
    rounding = int(params.decimal_at("gate.pass.total_rounding_kg", on) * 1000)
    ratio = params.decimal_at("gate.pass.cargo_tolerance_ratio", on)
    floor = int(params.decimal_at("gate.pass.cargo_tolerance_floor_kg", on) * 1000)
    for name, value in (
        ("vehicleWt", totals.vehicle_wt_g),
        ("vehicleFrameWt", totals.frame_wt_g),
        ("containerWt", totals.container_wt_g),
        ("totalGrossWt", totals.total_gross_wt_g),
        ("totalNetWt", totals.total_net_wt_g),
        ("totalWt", totals.total_wt_g),
    ):
        if value < 0:
            out.append(Reason("negative-weight", f"{name} 不得为负数", f"{name} must not be negative"))
    if totals.total_net_wt_g > totals.total_gross_wt_g:
        out.append(
            Reason(
                "net-over-gross",
                f"货物净重 {_kgs(totals.total_net_wt_g)} kg 大于毛重 {_kgs(totals.total_gross_wt_g)} kg",
                f"cargo net weight {_kgs(totals.total_net_wt_g)} kg exceeds gross "
                f"{_kgs(totals.total_gross_wt_g)} kg",
            )
        )
    expected = totals.vehicle_wt_g + totals.frame_wt_g + totals.container_wt_g + totals.total_gross_wt_g
    if abs(totals.total_wt_g - expected) > rounding:
        out.append(
            Reason(
                "total-mismatch",
                f"总重 {_kgs(totals.total_wt_g)} kg 不等于车辆自重+车架重+集装箱重+货物毛重 "
                f"{_kgs(expected)} kg",
                f"totalWt {_kgs(totals.total_wt_g)} kg is not vehicle + frame + container + cargo gross "
                f"= {_kgs(expected)} kg",
            )
        )
    for label_zh, label_en, declared, lists in (
        ("毛重", "gross", totals.total_gross_wt_g, totals.lists_gross_g),
        ("净重", "net", totals.total_net_wt_g, totals.lists_net_g),
    ):
        allowed = max(floor, int(ratio * lists))
        if abs(declared - lists) > allowed:
            out.append(
                Reason(
                    f"cargo-{label_en}-mismatch",
                    f"货物{label_zh} {_kgs(declared)} kg 与所绑定清单{label_zh}合计 {_kgs(lists)} kg "
                    f"相差超过 {_kgs(allowed)} kg",
                    f"cargo {label_en} weight {_kgs(declared)} kg differs from the bound lists' {label_en} "
                    f"total {_kgs(lists)} kg by more than {_kgs(allowed)} kg",
                )
            )
    return out


def _kgs(grams: int) -> str:
    return format(Decimal(grams) / 1000, "f").rstrip("0").rstrip(".") if grams % 1000 else str(grams // 1000)


def event_frame(events: Sequence[Mapping[str, object]]) -> pl.DataFrame:
    """Events (dicts with the ``EVENT_SCHEMA`` keys) as a frame, missing keys null."""
    return pl.DataFrame({name: [e.get(name) for e in events] for name in EVENT_SCHEMA}, schema=EVENT_SCHEMA)


def with_no_pass(frame: pl.DataFrame) -> pl.DataFrame:
    """The pass columns, all null (an event frame before the shell has found any pass)."""
    return frame.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in PASS_SCHEMA.items())


def reasons_of(row: Mapping[str, object]) -> list[Reason]:
    """The reasons of one decided row (``decide``'s three parallel lists) as values."""
    codes, zh, en = (row.get(k) or [] for k in ("reason_codes", "reasons_zh", "reasons_en"))
    assert isinstance(codes, list) and isinstance(zh, list) and isinstance(en, list)
    return [Reason(c, z, e) for c, z, e in zip(codes, zh, en, strict=True)]
