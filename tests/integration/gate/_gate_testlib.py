"""A bare gate pass row for the store-level gate tests (no lists: approved, ready to lift)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from cbec.store.schema import gate_pass


def insert_pass(conn: Connection, now: datetime, **over: Any) -> int:
    """Store an approved pass (status 1) for plate 浙A12345; ``over`` replaces any column's value."""
    row: dict[str, Any] = {
        "passport_no": "Z2924E261124000000000001",
        "owner": "3302960001",
        "etps_preent_no": "P1",
        "master_cuscd": "2924",
        "passport_typecd": "3",
        "bind_typecd": "1",
        "io_typecd": "E",
        "vehicle_no": "浙A12345",
        "vehicle_wt_g": 1,
        "vehicle_frame_wt_g": 0,
        "container_wt_g": 0,
        "total_gross_wt_g": 1,
        "total_net_wt_g": 1,
        "total_wt_g": 2,
        "stucd": "1",
        "filed_by": "t",
        "dcl_time": now,
        "updated_at": now,
        **over,
    }
    return int(conn.execute(insert(gate_pass).returning(gate_pass.c.id), row).scalar_one())
