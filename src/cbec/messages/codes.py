"""Which CEB fields are checked against which code table, and how hard.

The tables themselves are rules data (``cbec.params.codes``).  Small enumerations the spec fixes completely
(appType, orderType, ieFlag …) are checked strictly: a value outside them is an error.  The big customs tables
(currency, country, unit, transport mode, package type) are shipped partially — an operator loads the full
customs parameter tables — so a value missing from them is only a warning: a wrong "not in table" error would
refuse a good message.
"""

from __future__ import annotations

from functools import cache

# field name -> (code table, strict)
FIELD_TABLES: dict[str, tuple[str, bool]] = {
    "appType": ("app_type", True),
    "appStatus": ("app_status", True),
    "orderType": ("order_type", True),
    "ieFlag": ("ie_flag", True),
    "buyerIdType": ("id_type", True),
    "payerIdType": ("id_type", True),
    "statisticsFlag": ("statistics_flag", True),
    "summaryFlag": ("summary_flag", True),
    "logisticsStatus": ("logistics_status", True),
    "tradeMode": ("trade_mode", True),
    "currency": ("currency", False),
    "country": ("country", False),
    "tradeCountry": ("country", False),
    "unit": ("unit", False),
    "unit1": ("unit", False),
    "unit2": ("unit", False),
    "trafMode": ("transport_mode", False),
    "wrapType": ("wrap_type", False),
}


CodeSets = dict[str, tuple[frozenset[str], bool]]


@cache
def field_code_sets() -> CodeSets:
    """field name -> (allowed codes, strict) from the packaged code tables."""
    from cbec.params.codes import code_table

    return {
        name: (frozenset(code_table(table).codes()), strict) for name, (table, strict) in FIELD_TABLES.items()
    }
