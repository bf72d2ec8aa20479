"""List validation beyond the format check: identities, positive list, supervision-mode fields, legal units.

Pure and vectorised, like the matching rules: frames in, violation rows out (same schema as
:mod:`cbec.rules.matching`).  Facts: regime reference §1 (positive list, 1210 fields), §3.1 (buyer id type 1),
§3.10 (identifier formats), §4.2 M5 (resident identity).
"""

from __future__ import annotations

import polars as pl

from cbec.rules.matching import VIOLATION_SCHEMA, violation
from cbec.rules.resident_id import valid_expr

RETAIL_IMPORT_MODES = ("9610", "1210")


def validate_lists(lists: pl.DataFrame, list_lines: pl.DataFrame, hs: pl.DataFrame) -> pl.DataFrame:
    """Violations V1–V6 for import lists; ``hs`` is the HS table frame (hs10, positive_list, unit1, unit2)."""
    found = [
        violation(
            lists,
            pl.col("buyerIdType") != "1",
            "V1",
            "订购人证件类型必须为1（身份证）",
            "buyerIdType must be 1 (resident identity card)",
        ),
        violation(
            lists,
            ~valid_expr("buyerIdNumber"),
            "V1",
            pl.format(
                "订购人身份证号{}校验位错误或格式不符（GB 11643）",
                pl.col("buyerIdNumber").str.slice(0, 6) + "…",
            ),
            pl.format(
                "buyer ID number {} fails the GB 11643 check digit or format",
                pl.col("buyerIdNumber").str.slice(0, 6) + "…",
            ),
        ),
        violation(
            lists,
            pl.col("ieFlag") != "I",
            "V3",
            "进口清单进出口标记必须为I",
            "ieFlag must be I on an import list",
        ),
        violation(
            lists,
            ~pl.col("tradeMode").is_in(RETAIL_IMPORT_MODES),
            "V4",
            pl.format("监管方式{}不是跨境电商零售进口（9610/1210）", "tradeMode"),
            pl.format("tradeMode {} is not a CBEC retail-import mode (9610/1210)", "tradeMode"),
        ),
        violation(
            lists,
            (pl.col("tradeMode") == "1210") & (pl.col("emsNo").is_null() | pl.col("areaCode").is_null()),
            "V4",
            "保税进口（1210）清单必须填写账册编号emsNo和区内企业areaCode",
            "a bonded (1210) list must carry the ledger number emsNo and the zone enterprise areaCode",
        ),
    ]
    lines = list_lines.join(lists.select("list_key", "tradeMode"), on="list_key", how="inner").join(
        hs.select(
            pl.col("hs10").alias("gcode"),
            pl.col("positive_list").alias("_positive"),
            pl.col("unit1").alias("_unit1"),
            pl.col("unit2").alias("_unit2"),
        ),
        on="gcode",
        how="left",
    )
    off_list = (
        lines.filter(~pl.col("_positive").fill_null(False)).group_by("list_key").agg(pl.col("gcode").first())
    )
    found.append(
        violation(
            off_list,
            pl.lit(True),
            "V2",
            pl.format("商品编码{}不在跨境电子商务零售进口商品清单内", "gcode"),
            pl.format("HS code {} is not on the CBEC retail-import positive list", "gcode"),
        )
    )
    no_record = (
        lines.filter((pl.col("tradeMode") == "1210") & pl.col("itemRecordNo").is_null())
        .group_by("list_key")
        .agg(pl.col("gnum").first())
    )
    found.append(
        violation(
            no_record,
            pl.lit(True),
            "V4",
            pl.format("保税进口清单第{}项缺少账册备案料号itemRecordNo", "gnum"),
            pl.format("bonded list line {} lacks its ledger item record number itemRecordNo", "gnum"),
        )
    )
    bad_unit = (
        lines.filter(
            pl.col("_unit1").is_not_null()
            & (
                (pl.col("unit1") != pl.col("_unit1"))
                | (pl.col("_unit2").is_not_null() & (pl.col("unit2").fill_null("") != pl.col("_unit2")))
            )
        )
        .group_by("list_key")
        .agg(pl.col("gnum").first(), pl.col("_unit1").first(), pl.col("unit1").first())
    )
    found.append(
        violation(
            bad_unit,
            pl.lit(True),
            "V5",
            pl.format("第{}项法定计量单位{}与税则{}不符", "gnum", "unit1", "_unit1"),
            pl.format("line {}: legal unit {} differs from the tariff's {}", "gnum", "unit1", "_unit1"),
        )
    )
    return pl.concat([f.cast(VIOLATION_SCHEMA) for f in found])


def validate_payments(payments: pl.DataFrame) -> pl.DataFrame:
    """V6: payer identity (type 1, valid resident ID) — reported against the list of the same order key."""
    bad = payments.filter((pl.col("payerIdType") != "1") | ~valid_expr("payerIdNumber"))
    return violation(
        bad.rename({"order_key": "list_key"}),
        pl.lit(True),
        "V6",
        "支付人证件类型或身份证号不合规（GB 11643）",
        "payer ID type or resident ID number is invalid (GB 11643)",
    ).cast(VIOLATION_SCHEMA)
