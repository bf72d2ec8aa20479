"""Gate passes (核放单), gate events with their decisions, and officers' holds: the repository.

Input, not derived from the inbox (``rebuild`` keeps it).  Status moves are compare-and-set
(``UPDATE … WHERE stucd IN (…)``), so two lanes, or a lane and an officer, can never both use one pass; an
event is stored once per ``event_id`` (``INSERT … ON CONFLICT DO NOTHING``).  Weights are integer grams.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select, update

from cbec.store._common import bulk_insert, chunks, utcnow
from cbec.store.db import driver_cursor, fetch_rows
from cbec.store.schema import document, gate_event, gate_hold, gate_pass, gate_pass_list

LIVE = ("0", "1", "2", "3", "4")
"""Statuses of a pass that still holds its lists (not deleted or void)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which passes, events and holds a caller sees: everything, some owners' (operators) or a district's."""

    everything: bool = False
    owners: frozenset[str] = frozenset()
    district: str | None = None

    def pass_clause(self, table: Any) -> Any:
        if self.everything:
            return None
        clauses = []
        if self.owners:
            clauses.append(table.c.owner.in_(sorted(self.owners)))
        if self.district is not None:
            if self.district.endswith("00"):
                clauses.append(table.c.master_cuscd.like(f"{self.district[:2]}%"))
            else:
                clauses.append(table.c.master_cuscd == self.district)
        return or_(*clauses) if clauses else table.c.id < 0

    def apply(self, stmt: Select[Any], table: Any) -> Select[Any]:
        clause = self.pass_clause(table)
        return stmt if clause is None else stmt.where(clause)


@dataclass(frozen=True, slots=True)
class BoundList:
    list_key: str
    invt_no: str | None
    logistics_no: str | None
    gross_wt_g: int
    net_wt_g: int


@dataclass(frozen=True, slots=True)
class NewPass:
    owner: str
    etps_preent_no: str
    master_cuscd: str
    areain_oriact_no: str | None
    passport_typecd: str
    bind_typecd: str
    io_typecd: str
    rlt_tb_typecd: str | None
    rlt_no: str | None
    vehicle_no: str
    vehicle_ic_no: str | None
    vehicle_frame_no: str | None
    vehicle_wt_g: int
    vehicle_frame_wt_g: int
    container_no: str | None
    container_type: str | None
    container_wt_g: int
    total_gross_wt_g: int
    total_net_wt_g: int
    total_wt_g: int
    stucd: str
    pending: str | None
    filed_by: str
    dcl_time: datetime


@dataclass(frozen=True, slots=True)
class PassRow:
    id: int
    passport_no: str
    owner: str
    etps_preent_no: str
    master_cuscd: str
    areain_oriact_no: str | None
    passport_typecd: str
    bind_typecd: str
    io_typecd: str
    rlt_tb_typecd: str | None
    rlt_no: str | None
    vehicle_no: str
    vehicle_ic_no: str | None
    vehicle_frame_no: str | None
    vehicle_wt_g: int
    vehicle_frame_wt_g: int
    container_no: str | None
    container_type: str | None
    container_wt_g: int
    total_gross_wt_g: int
    total_net_wt_g: int
    total_wt_g: int
    stucd: str
    pending: str | None
    filed_by: str
    dcl_time: datetime
    approved_at: datetime | None
    pass_time: datetime | None
    secd_pass_time: datetime | None
    updated_at: datetime
    lists: tuple[BoundListRow, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class BoundListRow:
    seq: int
    list_key: str
    invt_no: str | None
    logistics_no: str | None
    gross_wt_g: int
    net_wt_g: int
    status: int | None
    """The list's CEB status now (None: no such list stored)."""


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: int
    kind: str
    target_kind: str
    target: str
    district: str | None
    officer: str
    reason_zh: str
    reason_en: str
    placed_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None


def passport_no(master_cuscd: str, io_typecd: str, on: datetime, serial: int) -> str:
    """``Z`` + customs code (4) + I/E + YYMMDD + 12-digit serial = 24 characters (regime reference §3.10)."""
    return f"Z{master_cuscd}{io_typecd}{on:%y%m%d}{serial:012d}"


# --- passes -----------------------------------------------------------------------------------------------
def insert_pass(conn: Connection, new: NewPass, lists: Sequence[BoundList]) -> int:
    """Store a pass and its lists; its number comes from its row id (unique without a counter to rebuild).

    Raises ``sqlalchemy.exc.IntegrityError`` when a list is already on another live pass (the caller checks
    first; the unique key settles a race).
    """
    now = utcnow()
    values = {k: getattr(new, k) for k in NewPass.__dataclass_fields__}
    values["passport_no"] = "~" + uuid.uuid4().hex[:23]  # replaced below, once the id is known
    values["updated_at"] = now
    pass_id = int(conn.execute(gate_pass.insert().values(**values).returning(gate_pass.c.id)).scalar_one())
    number = passport_no(new.master_cuscd, new.io_typecd, new.dcl_time, pass_id)
    conn.execute(update(gate_pass).where(gate_pass.c.id == pass_id).values(passport_no=number))
    live = 1 if new.stucd in LIVE else None
    if lists:
        bulk_insert(
            conn,
            gate_pass_list,
            [
                {
                    "pass_id": pass_id,
                    "seq": i,
                    "list_key": b.list_key,
                    "invt_no": b.invt_no,
                    "logistics_no": b.logistics_no,
                    "gross_wt_g": b.gross_wt_g,
                    "net_wt_g": b.net_wt_g,
                    "live": live,
                }
                for i, b in enumerate(lists, start=1)
            ],
        )
    return pass_id


def _passes(conn: Connection, stmt: Select[Any], *, with_lists: bool = True) -> list[PassRow]:
    rows = [dict(r._mapping) for r in conn.execute(stmt)]
    bound = bound_lists(conn, [r["id"] for r in rows]) if with_lists and rows else {}
    return [PassRow(**r, lists=tuple(bound.get(r["id"], ()))) for r in rows]


def pass_by_no(conn: Connection, number: str) -> PassRow | None:
    found = _passes(conn, select(gate_pass).where(gate_pass.c.passport_no == number))
    return found[0] if found else None


def pass_by_id(conn: Connection, pass_id: int) -> PassRow | None:
    found = _passes(conn, select(gate_pass).where(gate_pass.c.id == pass_id))
    return found[0] if found else None


def pass_by_preent(conn: Connection, owner: str, etps_preent_no: str) -> PassRow | None:
    found = _passes(
        conn,
        select(gate_pass).where(gate_pass.c.owner == owner, gate_pass.c.etps_preent_no == etps_preent_no),
    )
    return found[0] if found else None


def passes(
    conn: Connection, scope: Scope, *, status: str | None = None, limit: int = 50, with_lists: bool = False
) -> list[PassRow]:
    """The most recent passes the scope sees (optionally of one status), newest first."""
    stmt = scope.apply(select(gate_pass), gate_pass).order_by(gate_pass.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(gate_pass.c.stucd == status)
    return _passes(conn, stmt, with_lists=with_lists)


def pass_counts(conn: Connection, scope: Scope) -> dict[str, int]:
    """Passes per status (``stucd``) in the scope."""
    stmt = scope.apply(select(gate_pass.c.stucd, func.count()).group_by(gate_pass.c.stucd), gate_pass)
    return {str(s): int(n) for s, n in conn.execute(stmt)}


def bound_lists(conn: Connection, pass_ids: Iterable[int]) -> dict[int, list[BoundListRow]]:
    """The lists of these passes, with each list's CEB status now (one query, joined on the document)."""
    out: dict[int, list[BoundListRow]] = {}
    for part in chunks(sorted(set(pass_ids))):
        stmt = (
            select(
                gate_pass_list.c.pass_id,
                gate_pass_list.c.seq,
                gate_pass_list.c.list_key,
                gate_pass_list.c.invt_no,
                gate_pass_list.c.logistics_no,
                gate_pass_list.c.gross_wt_g,
                gate_pass_list.c.net_wt_g,
                document.c.status,
            )
            .outerjoin(
                document,
                and_(document.c.kind == "list", document.c.business_key == gate_pass_list.c.list_key),
            )
            .where(gate_pass_list.c.pass_id.in_(part))
            .order_by(gate_pass_list.c.pass_id, gate_pass_list.c.seq)
        )
        for row in conn.execute(stmt):
            out.setdefault(int(row.pass_id), []).append(
                BoundListRow(
                    row.seq,
                    row.list_key,
                    row.invt_no,
                    row.logistics_no,
                    int(row.gross_wt_g),
                    int(row.net_wt_g),
                    None if row.status is None else int(row.status),
                )
            )
    return out


def live_bindings(conn: Connection, list_keys: Iterable[str]) -> dict[str, str]:
    """list key → number of the live pass it is already bound to (lists on no live pass are left out)."""
    found: dict[str, str] = {}
    for part in chunks(sorted(set(list_keys))):
        stmt = (
            select(gate_pass_list.c.list_key, gate_pass.c.passport_no)
            .join(gate_pass, gate_pass.c.id == gate_pass_list.c.pass_id)
            .where(gate_pass_list.c.list_key.in_(part), gate_pass_list.c.live == 1)
        )
        found.update({k: n for k, n in conn.execute(stmt)})
    return found


def move_status(
    conn: Connection, pass_id: int, from_statuses: Sequence[str], to_status: str, at: datetime, **times: Any
) -> bool:
    """Compare-and-set a pass's status; False when it is no longer in ``from_statuses``."""
    values: dict[str, Any] = {"stucd": to_status, "updated_at": at, **times}
    if to_status not in LIVE:
        values["pending"] = None
    stmt = (
        update(gate_pass)
        .where(gate_pass.c.id == pass_id, gate_pass.c.stucd.in_(list(from_statuses)))
        .values(**values)
    )
    moved = bool(conn.execute(stmt).rowcount == 1)
    if moved and to_status not in LIVE:  # deleted or void: its lists may go on another pass
        conn.execute(update(gate_pass_list).where(gate_pass_list.c.pass_id == pass_id).values(live=None))
    return moved


def set_pending(conn: Connection, pass_id: int, pending: str | None, at: datetime) -> None:
    conn.execute(
        update(gate_pass)
        .where(gate_pass.c.id == pass_id, gate_pass.c.stucd == "0")
        .values(pending=pending, updated_at=at)
    )


def candidates(conn: Connection, plates: Iterable[str], ics: Iterable[str], scope: Scope) -> list[PassRow]:
    """Passes a vehicle at the gate may be travelling under: by plate or electronic plate/IC, live ones
    (applied, approved, through the first gate) and the most recent used ones (to tell a second use)."""
    plate_list, ic_list = sorted(set(plates)), sorted(set(ics))
    if not plate_list and not ic_list:
        return []
    who = or_(
        gate_pass.c.vehicle_no.in_(plate_list) if plate_list else gate_pass.c.id < 0,
        gate_pass.c.vehicle_ic_no.in_(ic_list) if ic_list else gate_pass.c.id < 0,
    )
    live = scope.apply(select(gate_pass).where(who, gate_pass.c.stucd.in_(["0", "1", "3"])), gate_pass)
    used = scope.apply(
        select(gate_pass)
        .where(who, gate_pass.c.stucd.in_(["2", "4"]))
        .order_by(gate_pass.c.id.desc())
        .limit(4 * (len(plate_list) + len(ic_list))),
        gate_pass,
    )
    return _passes(conn, live) + _passes(conn, used)


# --- the gate's read path ----------------------------------------------------------------------------------
# At 100 vehicles/s building a SQLAlchemy construct per read (coercions, IN expansion, cache keys, result
# processing) cost more than the database did: about 12 ms of CPU per vehicle.  The decision's reads are
# therefore plain SQL, written once per shape and sent to the driver as they are; they return only
# identifiers, weights, statuses and texts (no timestamps, so no type processing is needed).


@dataclass(frozen=True, slots=True)
class GatePass:
    """What the gate needs of a pass: how to find it, what to compare, what to move."""

    id: int
    passport_no: str
    owner: str
    master_cuscd: str
    vehicle_no: str
    vehicle_ic_no: str | None
    container_no: str | None
    total_wt_g: int
    stucd: str
    lists: tuple[BoundListRow, ...] = ()


@dataclass(frozen=True, slots=True)
class ActiveHold:
    """A hold or inspection order in force, as the gate reads it."""

    id: int
    kind: str
    target_kind: str
    target: str
    district: str | None
    officer: str
    reason_zh: str
    reason_en: str


_PASS_COLUMNS = (
    "id, passport_no, owner, master_cuscd, vehicle_no, vehicle_ic_no, container_no, total_wt_g, stucd"
)
_SQL: dict[tuple[object, ...], str] = {}


def _driver_sql(conn: Connection, key: tuple[object, ...], build: Any) -> str:
    """The statement for ``key`` in the driver's parameter style (``?`` for sqlite3, ``%s`` for psycopg),
    built once per shape and process."""
    full = (conn.dialect.paramstyle, *key)
    found = _SQL.get(full)
    if found is None:
        text_ = str(build())
        found = text_ if conn.dialect.paramstyle == "qmark" else text_.replace("%", "%%").replace("?", "%s")
        if len(_SQL) > 4096:
            _SQL.clear()
        _SQL[full] = found
    return found


def marks(n: int) -> str:
    return ", ".join("?" * n)


def _scope_sql(scope: Scope) -> tuple[str, list[str]]:
    """``Scope.pass_clause`` as SQL text and its parameters (owners, the district's prefix or code)."""
    if scope.everything:
        return "", []
    parts: list[str] = []
    params: list[str] = []
    if scope.owners:
        parts.append(f"owner IN ({marks(len(scope.owners))})")
        params += sorted(scope.owners)
    if scope.district is not None:
        if scope.district.endswith("00"):
            parts.append("master_cuscd LIKE ?")
            params.append(f"{scope.district[:2]}%")
        else:
            parts.append("master_cuscd = ?")
            params.append(scope.district)
    return (f" AND ({' OR '.join(parts)})" if parts else " AND id < 0"), params


def gate_candidates(
    conn: Connection, plates: Sequence[str], ics: Sequence[str], scope: Scope
) -> list[GatePass]:
    """:func:`candidates` in one statement and without the lists: live passes of these plates or
    electronic plates/ICs, and the most recent used ones (to tell a second use)."""
    plate_list, ic_list = sorted(set(plates)), sorted(set(ics))
    if not plate_list and not ic_list:
        return []
    where, scope_params = _scope_sql(scope)
    limit = 4 * (len(plate_list) + len(ic_list))

    def build() -> str:
        who = " OR ".join(
            part
            for part in (
                f"vehicle_no IN ({marks(len(plate_list))})" if plate_list else "",
                f"vehicle_ic_no IN ({marks(len(ic_list))})" if ic_list else "",
            )
            if part
        )
        return (
            f"SELECT {_PASS_COLUMNS} FROM gate_pass WHERE ({who}) AND stucd IN ('0', '1', '3'){where} "
            f"UNION ALL SELECT * FROM (SELECT {_PASS_COLUMNS} FROM gate_pass WHERE ({who}) "
            f"AND stucd IN ('2', '4'){where} ORDER BY id DESC LIMIT {limit}) AS used"
        )

    sql = _driver_sql(conn, ("candidates", len(plate_list), len(ic_list), where), build)
    params = (*plate_list, *ic_list, *scope_params)
    rows = fetch_rows(conn, sql, params * 2)
    return [GatePass(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8]) for r in rows]


def gate_lists(conn: Connection, pass_ids: Sequence[int]) -> dict[int, tuple[BoundListRow, ...]]:
    """The lists of these passes with each list's CEB status now (:func:`bound_lists`, one statement)."""
    ids = sorted(set(pass_ids))
    if not ids:
        return {}
    out: dict[int, list[BoundListRow]] = {}
    for part in chunks(ids):
        n = len(part)
        sql = _driver_sql(
            conn,
            ("lists", n),
            lambda n=n: (
                "SELECT l.pass_id, l.seq, l.list_key, l.invt_no, l.logistics_no, l.gross_wt_g, l.net_wt_g, "
                "d.status FROM gate_pass_list l LEFT JOIN document d ON d.kind = 'list' "
                f"AND d.business_key = l.list_key WHERE l.pass_id IN ({marks(n)}) ORDER BY l.pass_id, l.seq"
            ),
        )
        for r in fetch_rows(conn, sql, tuple(part)):
            out.setdefault(int(r[0]), []).append(
                BoundListRow(
                    int(r[1]), r[2], r[3], r[4], int(r[5]), int(r[6]), None if r[7] is None else int(r[7])
                )
            )
    return {k: tuple(v) for k, v in out.items()}


def gate_holds(conn: Connection, targets: Mapping[str, Iterable[str]]) -> list[ActiveHold]:
    """:func:`active_holds` as the gate reads them (on the partial index of holds not lifted)."""
    kinds: list[tuple[str, list[str]]] = []
    for kind, values in targets.items():
        vals = sorted({v for v in values if v})
        if vals:
            kinds.append((kind, vals))
    if not kinds:
        return []
    shape = tuple((k, len(v)) for k, v in kinds)

    def build() -> str:
        ors = " OR ".join(f"(target_kind = ? AND target IN ({marks(n)}))" for _k, n in shape)
        return (
            "SELECT id, kind, target_kind, target, district, officer, reason_zh, reason_en FROM gate_hold "
            f"WHERE lifted_at IS NULL AND ({ors}) ORDER BY id"
        )

    sql = _driver_sql(conn, ("holds", shape), build)
    params = tuple(x for k, v in kinds for x in (k, *v))
    return [ActiveHold(int(r[0]), *r[1:]) for r in fetch_rows(conn, sql, params)]


def known_event_ids(conn: Connection, event_ids: Sequence[str]) -> set[str]:
    """Which of these event ids are stored already (the usual answer: none)."""
    found: set[str] = set()
    for part in chunks(sorted(set(event_ids))):
        n = len(part)
        sql = _driver_sql(
            conn,
            ("events", n),
            lambda n=n: f"SELECT event_id FROM gate_event WHERE event_id IN ({marks(n)})",
        )
        found.update(str(r[0]) for r in fetch_rows(conn, sql, tuple(part)))
    return found


def _binder(conn: Connection, table: Any, columns: Sequence[str]) -> Any:
    """A function giving each of ``columns``' values as SQLAlchemy would bind it on this connection (the
    column type's own bind processor: timestamps stored in the same form as every other write's)."""
    dialect = conn.dialect
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]

    def bind(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v if f is None else f(v) for f, v in zip(processors, values, strict=True))

    return bind


_WRITES: dict[tuple[object, ...], tuple[str, Any]] = {}


def _write(
    conn: Connection, key: tuple[object, ...], table: Any, columns: Sequence[str], build: Any
) -> tuple[str, Any]:
    """The write statement ``key`` in the driver's parameter style, and its parameters' binder, built once
    per shape, database kind and process."""
    full = (conn.dialect.name, *key)
    found = _WRITES.get(full)
    if found is None:
        found = (_driver_sql(conn, ("write", *key), build), _binder(conn, table, columns))
        _WRITES[full] = found
    return found


def gate_move(
    conn: Connection, pass_id: int, from_statuses: Sequence[str], to_status: str, at: datetime, **times: Any
) -> bool:
    """:func:`move_status` for a LIFT (to a live status; at most two source statuses), as one statement on
    the driver's cursor built once per set of columns.  Compare-and-set all the same: the row moves only
    from one of ``from_statuses``, and the answer says whether it did."""
    if to_status not in LIVE or not 1 <= len(from_statuses) <= 2:
        return move_status(conn, pass_id, from_statuses, to_status, at, **times)
    names = tuple(sorted(times))
    columns = ("stucd", "updated_at", *names, "id", "stucd", "stucd")
    sql, bind = _write(
        conn,
        ("move", names),
        gate_pass,
        columns,
        lambda: (
            "UPDATE gate_pass SET "
            + ", ".join(f"{c} = ?" for c in ("stucd", "updated_at", *names))
            + " WHERE id = ? AND stucd IN (?, ?)"
        ),
    )
    values = (to_status, at, *(times[n] for n in names), pass_id, from_statuses[0], from_statuses[-1])
    with driver_cursor(conn) as cursor:
        cursor.execute(sql, bind(values))
        return bool(cursor.rowcount == 1)


def record_gate_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`record_events` as one ``INSERT … ON CONFLICT (event_id) DO NOTHING`` (the same text on SQLite
    and PostgreSQL) on the driver's cursor, built once per database kind."""
    if not rows:
        return
    sql, bind = _write(
        conn,
        ("events",),
        gate_event,
        EVENT_COLUMNS,
        lambda: (
            f"INSERT INTO gate_event ({', '.join(EVENT_COLUMNS)}) VALUES ({marks(len(EVENT_COLUMNS))}) "
            "ON CONFLICT (event_id) DO NOTHING"
        ),
    )
    with driver_cursor(conn) as cursor:
        cursor.executemany(sql, [bind([r[k] for k in EVENT_COLUMNS]) for r in rows])


# --- holds ------------------------------------------------------------------------------------------------
def place_hold(
    conn: Connection,
    *,
    kind: str,
    target_kind: str,
    target: str,
    district: str | None,
    officer: str,
    reason_zh: str,
    reason_en: str,
    at: datetime,
) -> int:
    stmt = (
        gate_hold.insert()
        .values(
            kind=kind,
            target_kind=target_kind,
            target=target,
            district=district,
            officer=officer,
            reason_zh=reason_zh,
            reason_en=reason_en,
            placed_at=at,
        )
        .returning(gate_hold.c.id)
    )
    return int(conn.execute(stmt).scalar_one())


def lift_hold(conn: Connection, hold_id: int, *, officer: str, at: datetime) -> bool:
    stmt = (
        update(gate_hold)
        .where(gate_hold.c.id == hold_id, gate_hold.c.lifted_at.is_(None))
        .values(lifted_at=at, lifted_by=officer)
    )
    return bool(conn.execute(stmt).rowcount == 1)


def hold_by_id(conn: Connection, hold_id: int) -> HoldRow | None:
    row = conn.execute(select(gate_hold).where(gate_hold.c.id == hold_id)).first()
    return HoldRow(**row._mapping) if row is not None else None


def active_holds(conn: Connection, targets: Mapping[str, Iterable[str]]) -> list[HoldRow]:
    """Holds not lifted on these targets (``{"pass": [...], "vehicle": [...], "list": [...]}``)."""
    clauses = []
    for kind, values in targets.items():
        vals = sorted({v for v in values if v})
        if vals:
            clauses.append(and_(gate_hold.c.target_kind == kind, gate_hold.c.target.in_(vals)))
    if not clauses:
        return []
    stmt = select(gate_hold).where(gate_hold.c.lifted_at.is_(None), or_(*clauses)).order_by(gate_hold.c.id)
    return [HoldRow(**r._mapping) for r in conn.execute(stmt)]


def holds(
    conn: Connection, *, district: str | None, active_only: bool = True, limit: int = 100
) -> list[HoldRow]:
    """Holds, newest first; ``district`` (an officer's) keeps those placed in it (None: all)."""
    stmt = select(gate_hold).order_by(gate_hold.c.id.desc()).limit(limit)
    if active_only:
        stmt = stmt.where(gate_hold.c.lifted_at.is_(None))
    if district is not None:
        stmt = stmt.where(gate_hold.c.district == district)
    return [HoldRow(**r._mapping) for r in conn.execute(stmt)]


# --- events -----------------------------------------------------------------------------------------------
EVENT_COLUMNS = (
    "event_id",
    "reporter",
    "lane",
    "gate",
    "vehicle_no",
    "vehicle_ic_no",
    "container_no",
    "weight_g",
    "at",
    "received_at",
    "pass_id",
    "passport_no",
    "master_cuscd",
    "owner",
    "decision",
    "reasons",
    "pass_status_before",
    "pass_status_after",
    "tolerance_g",
)


def record_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Store decided events (``EVENT_COLUMNS``); return the event ids that were new."""
    if not rows:
        return set()
    inserted = bulk_insert(
        conn,
        gate_event,
        [{k: r[k] for k in EVENT_COLUMNS} for r in rows],
        on_conflict=lambda stmt: stmt.on_conflict_do_nothing(index_elements=[gate_event.c.event_id]),
        returning=[gate_event.c.event_id],
    )
    return {str(r[0]) for r in inserted}


def events_by_ids(conn: Connection, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(set(event_ids))):
        for row in conn.execute(select(gate_event).where(gate_event.c.event_id.in_(part))):
            found[row.event_id] = dict(row._mapping)
    return found


def recent_events(
    conn: Connection,
    scope: Scope,
    *,
    reporters: Iterable[str] = (),
    limit: int = 50,
    decision: str | None = None,
) -> list[dict[str, Any]]:
    """The latest decided events the scope sees (its passes' events, or those it reported), newest first."""
    stmt = select(gate_event).order_by(gate_event.c.id.desc()).limit(limit)
    if decision is not None:
        stmt = stmt.where(gate_event.c.decision == decision)
    clause = _events_seen(scope, reporters)
    if clause is not None:
        stmt = stmt.where(clause)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def _events_seen(scope: Scope, reporters: Iterable[str]) -> Any:
    """Which events a caller sees: those of its scope's passes, and those it reported itself."""
    if scope.everything:
        return None
    clause = scope.pass_clause(gate_event)
    mine = sorted(set(reporters))
    return or_(clause, gate_event.c.reporter.in_(mine)) if mine else clause


STOP_SAMPLE = 20_000
"""Stops whose reasons are counted per day (the latest ones): the count per reason stays cheap on a day
of a million vehicles, where stops are few anyway."""


@dataclass(frozen=True, slots=True)
class DayCounts:
    """A day at the gate as a caller sees it: vehicles per decision, stops per reason code."""

    decisions: Mapping[str, int]
    stop_reasons: Mapping[str, int]
    reasons_sampled: bool

    @property
    def vehicles(self) -> int:
        return sum(self.decisions.values())


def day_counts(
    conn: Connection, scope: Scope, *, reporters: Iterable[str] = (), id_from: int, id_to: int
) -> DayCounts:
    """Counts over the events of ids ``[id_from, id_to)`` (a day, found by the caller on ``received_at``):
    an aggregate over that id range, not a scan of the table."""
    where = [gate_event.c.id >= id_from, gate_event.c.id < id_to]
    seen = _events_seen(scope, reporters)
    if seen is not None:
        where.append(seen)
    per = select(gate_event.c.decision, func.count()).where(*where).group_by(gate_event.c.decision)
    decisions = {str(d): int(n) for d, n in conn.execute(per)}
    stops = (
        select(gate_event.c.reasons)
        .where(*where, gate_event.c.decision == "STOP")
        .order_by(gate_event.c.id.desc())
        .limit(STOP_SAMPLE)
    )
    reasons: dict[str, int] = {}
    for (text,) in conn.execute(stops):
        for code in {str(r.get("code")) for r in json.loads(text)}:
            reasons[code] = reasons.get(code, 0) + 1
    ordered = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return DayCounts(decisions, ordered, decisions.get("STOP", 0) > STOP_SAMPLE)


def event_counts(conn: Connection, scope: Scope) -> dict[str, int]:
    stmt = select(gate_event.c.decision, func.count()).group_by(gate_event.c.decision)
    if not scope.everything:
        stmt = stmt.where(scope.pass_clause(gate_event))
    return {str(d): int(n) for d, n in conn.execute(stmt)}


def reasons_json(reasons: Sequence[Mapping[str, str]]) -> str:
    return json.dumps(list(reasons), ensure_ascii=False)


__all__ = [
    "LIVE",
    "ActiveHold",
    "BoundList",
    "BoundListRow",
    "DayCounts",
    "GatePass",
    "HoldRow",
    "NewPass",
    "PassRow",
    "Scope",
    "active_holds",
    "bound_lists",
    "candidates",
    "day_counts",
    "event_counts",
    "events_by_ids",
    "gate_candidates",
    "gate_holds",
    "gate_lists",
    "gate_move",
    "hold_by_id",
    "holds",
    "insert_pass",
    "known_event_ids",
    "lift_hold",
    "live_bindings",
    "move_status",
    "pass_by_id",
    "pass_by_no",
    "pass_by_preent",
    "pass_counts",
    "passes",
    "passport_no",
    "place_hold",
    "reasons_json",
    "recent_events",
    "record_events",
    "record_gate_events",
    "set_pending",
]
