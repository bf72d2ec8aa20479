"""Synthetic buyers: names, resident ID numbers with a correct check digit, phones, addresses (as columns)."""

from __future__ import annotations

import polars as pl

from cbec.rules.resident_id import CHECK_CHARS, WEIGHTS
from cbec.sim.draws import Draws

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玲红梅鑫宇浩然子轩欣怡梓涵一诺思远雨桐"
# (administrative division code, city, district) — real division codes
AREAS = (
    ("110105", "北京市", "朝阳区"),
    ("310115", "上海市", "浦东新区"),
    ("440305", "深圳市", "南山区"),
    ("330106", "杭州市", "西湖区"),
    ("510107", "成都市", "武侯区"),
    ("420106", "武汉市", "武昌区"),
    ("320102", "南京市", "玄武区"),
    ("500103", "重庆市", "渝中区"),
)
STREETS = ("人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "文化路", "长江路")


def buyers(draws: Draws, n: int) -> pl.DataFrame:
    """``n`` synthetic people: ``name``, ``id_number`` (valid check digit), ``phone``, ``district`` (the
    division code), ``address``."""
    area = draws.below(n, len(AREAS), "area")
    codes = pl.Series([a[0] for a in AREAS], dtype=pl.String).gather(area)
    places = pl.Series([a[1] + a[2] for a in AREAS], dtype=pl.String).gather(area)
    two_given = draws.below(n, 2, "two") == 1
    frame = pl.DataFrame(
        {
            "district": codes,
            "place": places,
            "surname": draws.pick(SURNAMES, n),
            "given1": draws.pick(GIVEN, n),
            "given2": draws.pick(GIVEN, n),
            "two": two_given,
            "mobile": draws.pick("3456789", n),
            "number": draws.integers(n, 0, 999_999_999),
            "street": draws.pick(STREETS, n),
            "house": draws.integers(n, 1, 999),
            "block": draws.integers(n, 1, 30),
            "room": draws.integers(n, 101, 2808),
            "year": draws.integers(n, 1965, 2004),
            "month": draws.integers(n, 1, 12),
            "day": draws.integers(n, 1, 28),
            "serial": draws.integers(n, 0, 999),
        }
    )

    def z(col: str, width: int) -> pl.Expr:
        return pl.col(col).cast(pl.String).str.zfill(width)

    body = pl.concat_str([pl.col("district"), z("year", 4), z("month", 2), z("day", 2), z("serial", 3)])
    frame = frame.with_columns(body.alias("body"))
    total = pl.sum_horizontal(
        [pl.col("body").str.slice(i, 1).cast(pl.Int64) * w for i, w in enumerate(WEIGHTS)]
    )
    check = pl.Series(list(CHECK_CHARS), dtype=pl.String)
    frame = frame.with_columns((total % 11).alias("check"))
    return frame.select(
        pl.concat_str(
            [
                pl.col("surname"),
                pl.col("given1"),
                pl.when(pl.col("two")).then(pl.col("given2")).otherwise(pl.lit("")),
            ]
        ).alias("name"),
        pl.concat_str([pl.col("body"), pl.lit(check).gather(pl.col("check"))]).alias("id_number"),
        pl.concat_str([pl.lit("1"), pl.col("mobile"), z("number", 9)]).alias("phone"),
        pl.col("district"),
        pl.concat_str(
            [
                pl.col("place"),
                pl.col("street"),
                pl.col("house").cast(pl.String),
                pl.lit("号"),
                pl.col("block").cast(pl.String),
                pl.lit("栋"),
                pl.col("room").cast(pl.String),
                pl.lit("室"),
            ]
        ).alias("address"),
    )
