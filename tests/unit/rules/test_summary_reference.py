"""The vectorised summary against a plain-Python reference on a few thousand random lists.

Why: the rule is written for speed (integer codes, one sorted 64-bit key, hash aggregations); this reference
is written for reading — dictionaries and sorts straight from ``docs/summary.md`` — so any shortcut that
changes a declaration, a number, a sum or the mapping's order shows up as a difference here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from _summary_testlib import heads_frame, lines_frame

from cbec.rules.summary import SummaryOptions, summarise_period

P = "2026-10"
START, END = datetime(2026, 10, 1), datetime(2026, 11, 1)


def _month(seed: int, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rnd = random.Random(seed)
    heads: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for k in range(n):
        invt = f"5141{2026}E{rnd.randrange(10**9):09d}{k:05d}"
        ebc = rnd.choice(["E1", "E2", "E3"])
        heads.append(
            {
                "invtNo": invt,
                "logisticsNo": f"LP{k:08d}",
                "ebcCode": ebc,
                "ebcName": rnd.choice([f"{ebc} 公司", f"{ebc} 有限公司", None]),
                "ownerCode": rnd.choice(["O1", "O2", None]),
                "trafMode": rnd.choice(["5", "5", "2"]),
                "country": rnd.choice(["502", "303"]),
                "portCode": rnd.choice(["5141", "2233"]),
                "tradeMode": rnd.choice(["9610", "9610", "9710"]),
                "statisticsFlag": rnd.choice(["B"] * 9 + ["A"]),
                "cleared_at": START + timedelta(hours=rnd.randrange(-100, 800)),
                "grossWeight": Decimal(rnd.randrange(1, 10**7)) / 1000,
                "netWeight": Decimal(rnd.randrange(1, 10**7)) / 1000,
            }
        )
        if rnd.random() < 0.03:
            continue  # a list without lines
        for gnum in rnd.sample(range(1, 9), rnd.randint(1, 4)):
            unit2 = rnd.choice([None, "035"])
            lines.append(
                {
                    "invtNo": invt,
                    "gnum": gnum,
                    "gcode": rnd.choice(["6109100021", "6404199000", "8517130000"]),
                    "gname": rnd.choice(["T恤", "鞋", "手机", "衬衫"]),
                    "itemName": rnd.choice([None, "品名甲", "品名乙"]),
                    "country": rnd.choice(["502", "303", "116"]),
                    "currency": rnd.choice(["502", "142"]),
                    "qty": Decimal(rnd.randrange(1, 10**6)) / 100,
                    "unit": rnd.choice(["011", "011", "011", "007", None]),
                    "qty1": Decimal(rnd.randrange(0, 10**9)) / 10**5,
                    "unit1": rnd.choice(["011", "035"]),
                    "qty2": None if unit2 is None else Decimal(rnd.randrange(0, 10**8)) / 10**4,
                    "unit2": unit2,
                    "totalPrice": Decimal(rnd.randrange(0, 10**10)) / 10**5,
                }
            )
    # lines of a list nobody declared, with a number close to real ones
    lines.append({**lines[0], "invtNo": lines[0]["invtNo"] + "X"})
    return heads, lines


def _order(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Sort key: values in order, nulls last (what the rule's codes do)."""
    return tuple((v is None, "" if v is None else v) for v in values)


def _total(values: list[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


def _reference(
    heads: list[dict[str, Any]], lines: list[dict[str, Any]], opts: SummaryOptions
) -> dict[str, list[tuple[Any, ...]]]:
    in_period = [h for h in heads if START <= h["cleared_at"] < END]
    todo = {h["invtNo"]: h for h in in_period if h["statisticsFlag"] != "A"}
    excluded = [(h["invtNo"], h["ebcCode"], "simplified") for h in in_period if h["statisticsFlag"] == "A"]
    lines_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ln in lines:
        if ln["invtNo"] in todo:
            lines_of[ln["invtNo"]].append(ln)
    excluded += [(i, h["ebcCode"], "no_lines") for i, h in todo.items() if not lines_of[i]]
    flag2 = opts.summary_flag == "2"

    def head_key(h: dict[str, Any]) -> tuple[Any, ...]:
        owner = (h["ownerCode"],) if flag2 else ()
        return (P, h["ebcCode"], 0, h["trafMode"], *owner, h["country"], h["portCode"], h["tradeMode"])

    def line_key(ln: dict[str, Any]) -> tuple[Any, ...]:
        item = (ln["itemName"] if ln["itemName"] is not None else ln["gname"],) if opts.item_name_flag else ()
        return (ln["country"], ln["gcode"], ln["currency"], ln["unit1"], ln["unit2"], *item)

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for h in todo.values():
        groups[head_key(h)].append(h)
    declarations, declaration_lines, mapping = [], [], []
    decl_no: dict[tuple[Any, ...], int] = defaultdict(int)
    for hkey in sorted(groups, key=_order):
        lists = sorted(groups[hkey], key=lambda h: h["invtNo"])
        dls: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for h in lists:
            for ln in lines_of[h["invtNo"]]:
                dls[line_key(ln)].append(ln)
        if not dls:
            continue
        owners = {h["ownerCode"] for h in lists}
        first = lists[0]
        size = opts.max_lines or len(dls)
        keys = sorted(dls, key=_order)
        parts = [keys[i : i + size] for i in range(0, len(keys), size)]
        part_of_list: dict[str, int] = {}
        for p, part in enumerate(parts):
            for lkey in part:
                for ln in dls[lkey]:
                    part_of_list.setdefault(ln["invtNo"], p)
                    part_of_list[ln["invtNo"]] = min(part_of_list[ln["invtNo"]], p)
        app = (P, hkey[1], 0)
        for p, part in enumerate(parts):
            decl_no[app] += 1
            no = decl_no[app]
            if opts.max_lines is None:
                in_part = lists
                weighed = lists
            else:
                names = {ln["invtNo"] for lkey in part for ln in dls[lkey]}
                in_part = [h for h in lists if h["invtNo"] in names]
                weighed = [h for h in lists if part_of_list.get(h["invtNo"]) == p]
            declarations.append(
                (
                    *app,
                    no,
                    hkey[3],
                    hkey[-3],
                    hkey[-2],
                    hkey[-1],
                    hkey[4] if flag2 else (next(iter(owners)) if len(owners) == 1 else None),
                    first["ebcName"],
                    first["ownerName"] if len(owners) == 1 else None,
                    len(in_part),
                    len(part),
                    _total([h["grossWeight"] for h in weighed]),
                    _total([h["netWeight"] for h in weighed]),
                    min(h["cleared_at"] for h in lists),
                    max(h["cleared_at"] for h in lists),
                )
            )
            for seq, lkey in enumerate(part, start=1):
                rows = sorted(dls[lkey], key=lambda ln: (ln["invtNo"], ln["gnum"]))
                one_unit = len({ln["unit"] for ln in rows}) == 1
                declaration_lines.append(
                    (
                        *app,
                        no,
                        seq,
                        *lkey[:3],
                        lkey[5] if opts.item_name_flag else None,
                        rows[0]["gname"],
                        rows[0]["unit"] if one_unit else None,
                        _total([ln["qty"] for ln in rows]) if one_unit else None,
                        lkey[3],
                        _total([ln["qty1"] for ln in rows]),
                        lkey[4],
                        _total([ln["qty2"] for ln in rows]) if lkey[4] is not None else None,
                        _total([ln["totalPrice"] for ln in rows]),
                        len({ln["invtNo"] for ln in rows}),
                        len(rows),
                    )
                )
                mapping += [
                    (ln["invtNo"], ln["gnum"], ln["gcode"], todo[ln["invtNo"]]["logisticsNo"], *app, no, seq)
                    for ln in rows
                ]
    return {
        "declarations": declarations,
        "declaration_lines": declaration_lines,
        "mapping": mapping,
        "excluded": sorted(excluded, key=lambda r: (r[0], r[2])),
    }


@pytest.mark.parametrize(
    ("seed", "opts", "shuffle"),
    [
        (1, SummaryOptions(summary_flag="2"), False),
        (2, SummaryOptions(summary_flag="1"), True),
        (3, SummaryOptions(summary_flag="1", item_name_flag=True), False),
        (4, SummaryOptions(summary_flag="2", item_name_flag=True, max_lines=2), True),
        (5, SummaryOptions(summary_flag="1", max_lines=3), False),
    ],
)
def test_summary_equals_a_plain_reference(seed: int, opts: SummaryOptions, shuffle: bool) -> None:
    heads, lines = _month(seed, 3000)
    for h in heads:
        h["ownerName"] = None if h["ownerCode"] is None else f"{h['ownerCode']} 工厂{h['invtNo'][-1]}"
    hf = heads_frame(heads).with_columns(pl.Series("ownerName", [h["ownerName"] for h in heads]))
    lf = lines_frame(lines)
    # sorted by number (the common, fast case) or not (the rule ranks the numbers itself)
    hf = hf.sample(fraction=1.0, shuffle=True, seed=seed) if shuffle else hf.sort("invtNo")
    lf = lf.sample(fraction=1.0, shuffle=True, seed=seed) if shuffle else lf.sort("invtNo", "gnum")
    got = summarise_period(hf, lf, P, options=opts)
    want = _reference(heads, lines, opts)
    assert got.declarations.height > 20 and got.mapping.height > 3000
    for name, rows in want.items():
        assert getattr(got, name).rows() == rows, name
