"""Which CEB fields are checked against which code table.

The tables themselves are rules data (``cbec.params.codes``); this module only says that ``currency`` is a
customs currency code, ``country`` a customs country code, and so on.  Only tables whose coverage we trust are
listed: a wrong "not in table" error would refuse a good message.
"""

from __future__ import annotations

from functools import cache

# field name -> code table name
FIELD_TABLES: dict[str, str] = {
    "currency": "currency",
    "appType": "app_type",
}


@cache
def field_code_sets() -> dict[str, frozenset[str]]:
    from cbec.params import codes

    out: dict[str, frozenset[str]] = {}
    for field_name, table in FIELD_TABLES.items():
        out[field_name] = frozenset(codes.code_table(table).codes())
    return out
