"""One chunk of synthetic traffic, built as columns and written with the columnar strict writer.

The plan (:func:`cbec.sim.generate.plan`) fixed each parcel's batch, fault and buyer; here the rest is drawn
column by column from the chunk's own seed — time of day, 1210 or 9610, freight, the basket (products,
quantities, lognormal prices), the companies' documents — and the four document types are assembled as
Polars frames and encoded by :func:`cbec.messages.encode_columns.encode_documents` (lists signed).  Amounts
are integers in fen (and weights in grams) until they are written, so every sum is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cbec.messages.encode_columns import encode_documents
from cbec.sim.catalogue import build_catalogue, catalogue_frame
from cbec.sim.draws import Draws
from cbec.sim.parties import (
    AGENTS,
    BONDED_ZONES,
    DIRECT_PORTS,
    ENTERPRISES,
    LOGISTICS,
    PAYMENT,
    PLATFORMS,
    Party,
)
from cbec.sim.people import buyers

if TYPE_CHECKING:
    from cbec.messages.signature import SigningIdentity
    from cbec.sim.generate import Chunk, ChunkResult, GeneratorConfig

MAX_DOCUMENTS = 100
PEOPLE_BLOCK = 1 << 14  # buyers are drawn in blocks, each from its own seed, so any chunk can rebuild one
ITEMS = (1, 2, 3, 4)
ITEM_WEIGHTS = (60, 25, 10, 5)
QUANTITIES = (1, 2, 3, 6)
QUANTITY_WEIGHTS = (70, 20, 7, 3)
FREIGHTS = (0, 0, 8, 10, 12, 15)  # CNY
ORDINARY_BASKET_FEN = 4900_00  # ordinary shoppers stay within the single-transaction limit
# faults whose basket is an ordinary one
ORDINARY = ("clean", "amount_mismatch", "payer_not_buyer", "bad_id", "duplicate_list", "missing_payment")
SENDER = {
    "CEB311Message": "platform",
    "CEB411Message": "pay",
    "CEB511Message": "logistics",
    "CEB621Message": "agent",
}
PARTIES: dict[str, tuple[Party, ...]] = {
    "platform": PLATFORMS,
    "ebc": ENTERPRISES,
    "pay": PAYMENT,
    "logistics": LOGISTICS,
    "agent": AGENTS,
}

_catalogues: dict[int, tuple[pl.DataFrame, int, int]] = {}
_people: dict[tuple[int, str, int], pl.DataFrame] = {}
_identity: list[SigningIdentity] = []


def catalogue(seed: int) -> tuple[pl.DataFrame, int, int]:
    """(products frame, number on the positive list, number off it); rows on the list come first."""
    if seed not in _catalogues:
        import random

        on, off = build_catalogue(random.Random(seed))
        _catalogues[seed] = (catalogue_frame([*on, *off]), len(on), len(off))
    return _catalogues[seed]


def people(seed: int, pool: str, index: pl.Series) -> pl.DataFrame:
    """The buyers ``index`` of a pool (``buyer`` and their attributes), rebuilt from their blocks."""
    frames = []
    for block in sorted(set((index // PEOPLE_BLOCK).unique().to_list())):
        key = (seed, pool, int(block))
        if key not in _people:
            start = int(block) * PEOPLE_BLOCK
            frame = buyers(Draws(f"cbec-sim/{seed}/people/{pool}/{block}"), PEOPLE_BLOCK)
            _people[key] = frame.with_columns(
                pl.int_range(start, start + PEOPLE_BLOCK, dtype=pl.Int64).alias("buyer")
            )
        frames.append(_people[key])
    if not frames:
        return buyers(Draws(0), 0).with_columns(pl.lit(0, pl.Int64).alias("buyer"))
    return pl.concat(frames)


ENV_SIGNING_DIR = "CBEC_SIM_SIGNING_DIR"
_identities: dict[tuple[str, str], SigningIdentity] = {}


def signing_dir() -> Path | None:
    """``$CBEC_SIM_SIGNING_DIR``: per sender, ``<code>.key.pem`` and ``<code>.cert.pem`` (RSA)."""
    import os

    named = os.environ.get(ENV_SIGNING_DIR)
    return Path(named) if named else None


def identity_of(code: str) -> SigningIdentity:
    """The identity of one sender, from :func:`signing_dir` (the demo files the same certificates)."""
    folder = signing_dir()
    if folder is None:
        raise RuntimeError(f"{ENV_SIGNING_DIR} is not set")
    if (str(folder), code) not in _identities:
        from cbec.messages.signature import SigningIdentity, load_identity

        key, cert = folder / f"{code}.key.pem", folder / f"{code}.cert.pem"
        loaded = load_identity(key.read_bytes(), cert.read_bytes(), code)
        if not isinstance(loaded, SigningIdentity):
            raise ValueError(f"{cert}: the generator signs with RSA keys only")
        _identities[(str(folder), code)] = loaded
    return _identities[(str(folder), code)]


def _signed_per_sender(
    mtype: str,
    heads: pl.DataFrame,
    lines: pl.DataFrame | None,
    by_msg: dict[int, dict[str, str | None]],
    guid_of: dict[int, str],
) -> list[tuple[int, bytes]]:
    """Encode each sender's messages signed with its own identity, in message order."""
    out: list[tuple[int, bytes]] = []
    for code in sorted({str(t["copCode"]) for t in by_msg.values()}):
        msgs = [m for m, t in by_msg.items() if t["copCode"] == code]
        keep = pl.col("_msg").is_in(msgs)
        out += encode_documents(
            mtype,
            heads.filter(keep),
            lines.filter(keep) if lines is not None else None,
            transfers={m: by_msg[m] for m in msgs},
            signer=identity_of(code),
            guids={m: guid_of[m] for m in msgs},
        )
    return sorted(out, key=lambda item: item[0])


def signer_for(code: str) -> SigningIdentity:
    """The sender's filed identity when :func:`signing_dir` holds its key (the service checks signatures
    against the cast's certificates), else this process's throw-away one (files cleared by ``cbec clear``,
    which checks no certificate)."""
    folder = signing_dir()
    if folder is not None and (folder / f"{code}.key.pem").exists():
        return identity_of(code)
    return identity()


def identity() -> SigningIdentity:
    """This process's throw-away signing identity (lists must be signed; see :func:`identity_of`)."""
    if not _identity:
        from cbec.messages.signature import make_test_identity

        _identity.append(make_test_identity("cbec generator"))
    return _identity[0]


def _gather(values: tuple[str, ...] | list[str], index: str) -> pl.Expr:
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(pl.col(index))


def _zfill(col: str, width: int) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.zfill(width)


def _fen(col: str | pl.Expr) -> pl.Expr:
    """Integer fen as a CNY decimal (two places)."""
    c = pl.col(col) if isinstance(col, str) else col
    return c.cast(pl.Decimal(19, 2)) / 100


def _grams(col: str | pl.Expr) -> pl.Expr:
    """Integer grams as a kilogram decimal (three places)."""
    c = pl.col(col) if isinstance(col, str) else col
    return c.cast(pl.Decimal(19, 3)) / 1000


def _baskets(
    draws: Draws, parcels: pl.DataFrame, n_on: int, n_off: int, products: pl.DataFrame
) -> pl.DataFrame:
    """One row per line: ``n``, ``g`` (line number from 1), ``product``, ``qty``, ``price`` (fen)."""

    def priced(frame: pl.DataFrame, z: pl.Series) -> pl.DataFrame:
        """Lognormal prices by category, rounded to the fen, at least CNY 1."""
        value = (pl.col("mu") + pl.col("sd") * pl.col("z")).exp().clip(lower_bound=1.0)
        return (
            frame.with_columns(z.alias("z"))
            .join(products.select("product", "mu", "sd"), on="product", how="left", maintain_order="left")
            .with_columns((value * 100).round(0).cast(pl.Int64).alias("price"))
            .drop("mu", "sd", "z")
        )

    special = ("over_single_limit", "over_quota")
    ordinary = parcels.filter(~pl.col("fault").is_in(special)).select(
        "n", "fault", pl.int_ranges(1, pl.col("items") + 1, dtype=pl.Int64).alias("g")
    )
    ordinary = ordinary.explode("g")
    k = ordinary.height
    ordinary = ordinary.with_columns(
        draws.below(k, n_on, "product"),
        pl.Series("qty", QUANTITIES, dtype=pl.Int64).gather(draws.weighted(k, QUANTITY_WEIGHTS)),
    )
    ordinary = priced(ordinary, draws.normal(k))
    # an off-list good in place of the first line
    off = (pl.col("fault") == "off_list") & (pl.col("g") == 1)
    if n_off:
        swap = ordinary.filter(off)
        s = swap.height
        swap = priced(
            swap.with_columns(
                (draws.below(s, n_off) + n_on).alias("product"), pl.lit(1, pl.Int64).alias("qty")
            ),
            draws.normal(s),
        )
        ordinary = pl.concat([ordinary.filter(~off), swap])
    # several items together over the single limit; one item just under it (only the quota can refuse it)
    over = parcels.filter(pl.col("fault") == "over_single_limit").select("n", "fault")
    s = over.height
    first = over.with_columns(
        pl.lit(1, pl.Int64).alias("g"),
        draws.below(s, n_on, "product"),
        pl.lit(2, pl.Int64).alias("qty"),
        pl.lit(1800_00, pl.Int64).alias("price"),
    )
    second = over.with_columns(
        pl.lit(2, pl.Int64).alias("g"),
        draws.below(s, n_on, "product"),
        pl.lit(1, pl.Int64).alias("qty"),
        pl.lit(1600_00, pl.Int64).alias("price"),
    )
    whale = parcels.filter(pl.col("fault") == "over_quota").select("n", "fault")
    s = whale.height
    whale = whale.with_columns(
        pl.lit(1, pl.Int64).alias("g"),
        draws.below(s, n_on, "product"),
        pl.lit(1, pl.Int64).alias("qty"),
        (draws.integers(s, 4200, 4850) * 100).alias("price"),
    )
    cols = ["n", "fault", "g", "product", "qty", "price"]
    lines = pl.concat([f.select(cols) for f in (ordinary, first, second, whale)]).sort("n", "g")
    # ordinary shoppers stay within the single-transaction limit: drop the last items while over it (one
    # pricey item alone may exceed it: that is the lawful full-rate case, but not six of them)
    trim = pl.col("fault").is_in(ORDINARY)
    running = (pl.col("qty") * pl.col("price")).cum_sum().over("n")
    lines = lines.filter(~trim | (pl.col("g") == 1) | (running <= ORDINARY_BASKET_FEN))
    alone = trim & (pl.len().over("n") == 1) & (pl.col("qty") * pl.col("price") > ORDINARY_BASKET_FEN)
    lines = lines.with_columns(pl.when(alone).then(1).otherwise(pl.col("qty")).alias("qty"))
    return lines.drop("fault")


def build_chunk(config: GeneratorConfig, chunk: Chunk) -> dict[str, pl.DataFrame]:
    """The chunk's documents as frames: ``order``, ``order_lines``, ``payment``, ``waybill``, ``list``,
    ``list_lines`` (each with ``_msg`` = file number and ``_doc``), ``transfers`` and ``manifest``."""
    seed = config.seed
    draws = Draws(f"cbec-sim/{seed}/chunk/{chunk.index}")
    products, n_on, n_off = catalogue(seed)
    p = chunk.parcels
    m = p.height
    day_us = 86_399 * 1_000_000
    p = p.with_columns(
        (
            pl.lit(config.day) + pl.duration(microseconds=pl.lit((draws.uniform(m) * day_us).cast(pl.Int64)))
        ).alias("when"),
        (draws.uniform(m) < config.bonded_share).alias("bonded"),
        pl.Series("freight", FREIGHTS, dtype=pl.Int64).gather(draws.below(m, len(FREIGHTS))) * 100,
        (draws.weighted(m, ITEM_WEIGHTS) + ITEMS[0]).alias("items"),
        draws.below(m, len(BONDED_ZONES), "zone"),
        draws.below(m, len(DIRECT_PORTS), "port"),
    )
    lines = _baskets(draws, p, n_on, n_off, products)
    lines = lines.join(
        products.select("product", "hs10", "name", "unit", "unit1", "unit2", "weight_g", "sku"),
        on="product",
        how="left",
        maintain_order="left",
    ).with_columns(
        (pl.col("qty") * pl.col("price")).alias("total"), (pl.col("qty") * pl.col("weight_g")).alias("grams")
    )
    sums = lines.group_by("n").agg(
        pl.col("total").sum().alias("goods"),
        pl.col("grams").sum().alias("net_g"),
        pl.col("name").first().str.slice(0, 200).alias("goods_info"),
    )
    # the companies behind each batch, the buyer (and for payer_not_buyer, someone else who pays)
    batch_cols = [pl.col("batch")]
    for role, parties in PARTIES.items():
        batch_cols += [
            _gather([x.code for x in parties], role).alias(f"{role}_code"),
            _gather([x.name for x in parties], role).alias(f"{role}_name"),
        ]
    batches = chunk.batches.select(batch_cols)
    pool = pl.concat(
        [
            people(seed, "pool", p.filter(~pl.col("whale"))["buyer"]).with_columns(
                pl.lit(False).alias("whale")
            ),
            people(seed, "whale", p.filter(pl.col("whale"))["buyer"]).with_columns(
                pl.lit(True).alias("whale")
            ),
        ]
    )
    p = (
        p.join(sums, on="n", how="left", maintain_order="left")
        .join(batches, on="batch", how="left", maintain_order="left")
        .join(pool, on=["whale", "buyer"], how="left", maintain_order="left")
    )
    payers = p.filter(pl.col("fault") == "payer_not_buyer").select("n")
    others = buyers(draws, payers.height).select(
        pl.col("name").alias("payer_name"), pl.col("id_number").alias("payer_id")
    )
    p = p.join(pl.concat([payers, others], how="horizontal"), on="n", how="left", maintain_order="left")
    good_id = pl.col("id_number")
    wrong_id = pl.concat_str(
        [
            good_id.str.slice(0, 17),
            pl.when(good_id.str.slice(17, 1) != "0").then(pl.lit("0")).otherwise(pl.lit("1")),
        ]
    )
    when = pl.col("when")
    p = p.with_columns(
        draws.guids(m, "order_guid"),
        draws.guids(m, "payment_guid"),
        draws.guids(m, "waybill_guid"),
        draws.guids(m, "list_guid"),
        pl.when(pl.col("fault") == "bad_id").then(wrong_id).otherwise(good_id).alias("buyer_id_doc"),
        pl.concat_str(
            [pl.col("platform_code").str.slice(0, 4), when.dt.strftime("%Y%m%d"), _zfill("n", 8)]
        ).alias("order_no"),
        pl.concat_str(
            [pl.col("logistics_code").str.slice(-3), when.dt.strftime("%y%m%d"), _zfill("n", 9)]
        ).alias("logistics_no"),
        pl.concat_str([pl.lit("P"), when.dt.strftime("%Y%m%d%H%M%S"), _zfill("n", 8)]).alias("pay_id"),
        ((pl.col("goods") * 91 + 500) // 1000).alias("tax"),
        ((pl.col("net_g") * 115 + 10_000 + 500) // 1000).alias("gross"),
        ((pl.col("net_g") + 5) // 10).clip(lower_bound=1).alias("net"),
    ).with_columns((pl.col("goods") + pl.col("freight") + pl.col("tax")).alias("paid"))

    def messages(frame: pl.DataFrame, mtype: str) -> pl.DataFrame:
        """``_msg`` (file number) and ``_doc`` from ``batch`` and ``pos``: ≤ 100 documents per file."""
        key = pl.struct(pl.col("batch"), pl.col("pos") // MAX_DOCUMENTS)
        return frame.with_columns(
            ((key.rank("dense") - 1).cast(pl.Int64) + chunk.first_file[mtype]).alias("_msg"),
            pl.col("pos").alias("_doc"),
        )

    one, two, i_flag, cny = pl.lit("1"), pl.lit("2"), pl.lit("I"), pl.lit("142")
    zero = _fen(pl.lit(0, pl.Int64))
    buyer_cols = {"name": pl.col("name"), "phone": pl.col("phone"), "address": pl.col("address")}
    orders = messages(p, "CEB311Message")
    order = orders.select(
        "_msg",
        "_doc",
        "n",
        pl.col("order_guid").alias("guid"),
        one.alias("appType"),
        when.alias("appTime"),
        two.alias("appStatus"),
        i_flag.alias("orderType"),
        pl.col("order_no").alias("orderNo"),
        pl.col("platform_code").alias("ebpCode"),
        pl.col("platform_name").alias("ebpName"),
        pl.col("ebc_code").alias("ebcCode"),
        pl.col("ebc_name").alias("ebcName"),
        _fen("goods").alias("goodsValue"),
        _fen("freight").alias("freight"),
        zero.alias("discount"),
        _fen("tax").alias("taxTotal"),
        _fen("paid").alias("acturalPaid"),
        cny.alias("currency"),
        pl.concat_str([pl.lit("U"), _zfill("n", 9)]).alias("buyerRegNo"),
        buyer_cols["name"].alias("buyerName"),
        buyer_cols["phone"].alias("buyerTelephone"),
        one.alias("buyerIdType"),
        pl.col("buyer_id_doc").alias("buyerIdNumber"),
        pl.col("pay_code").alias("payCode"),
        pl.col("pay_name").alias("payName"),
        pl.col("pay_id").alias("payTransactionId"),
        buyer_cols["name"].alias("consignee"),
        buyer_cols["phone"].alias("consigneeTelephone"),
        buyer_cols["address"].alias("consigneeAddress"),
        pl.col("district").alias("consigneeDistrict"),
    )
    paid_more = pl.when(pl.col("fault") == "amount_mismatch").then(100).otherwise(0)
    payments = p.filter(pl.col("fault") != "missing_payment").with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).over("batch").alias("pos")
    )
    payment = messages(payments, "CEB411Message").select(
        "_msg",
        "_doc",
        pl.col("payment_guid").alias("guid"),
        one.alias("appType"),
        (when + pl.duration(seconds=5)).alias("appTime"),
        two.alias("appStatus"),
        pl.col("pay_code").alias("payCode"),
        pl.col("pay_name").alias("payName"),
        pl.col("pay_id").alias("payTransactionId"),
        pl.col("order_no").alias("orderNo"),
        pl.col("platform_code").alias("ebpCode"),
        pl.col("platform_name").alias("ebpName"),
        one.alias("payerIdType"),
        pl.coalesce("payer_id", "buyer_id_doc").alias("payerIdNumber"),
        pl.coalesce("payer_name", "name").alias("payerName"),
        pl.col("phone").alias("telephone"),
        _fen(pl.col("paid") + paid_more).alias("amountPaid"),
        cny.alias("currency"),
        when.alias("payTime"),
    )
    waybill = messages(p, "CEB511Message").select(
        "_msg",
        "_doc",
        pl.col("waybill_guid").alias("guid"),
        one.alias("appType"),
        (when + pl.duration(minutes=20)).alias("appTime"),
        two.alias("appStatus"),
        pl.col("logistics_code").alias("logisticsCode"),
        pl.col("logistics_name").alias("logisticsName"),
        pl.col("logistics_no").alias("logisticsNo"),
        pl.col("order_no").alias("orderNo"),
        _fen("freight").alias("freight"),
        zero.alias("insuredFee"),
        cny.alias("currency"),
        _fen("gross").alias("weight"),
        pl.lit(1, pl.Int64).alias("packNo"),
        pl.col("goods_info").alias("goodsInfo"),
        pl.col("name").alias("consignee"),
        pl.col("address").alias("consigneeAddress"),
        pl.col("phone").alias("consigneeTelephone"),
    )
    # lists: every parcel's, then the duplicates at the end of their batch, with a guid of their own
    twins = p.filter(pl.col("fault") == "duplicate_list")
    sizes = chunk.batches.select("batch", "size")
    twins = (
        twins.join(sizes, on="batch", how="left", maintain_order="left")
        .with_columns(
            (pl.col("size") + pl.int_range(pl.len(), dtype=pl.Int64).over("batch")).alias("pos"),
            draws.guids(twins.height, "list_guid"),
            pl.lit(True).alias("twin"),
        )
        .drop("size")
    )
    all_lists = pl.concat([p.with_columns(pl.lit(False).alias("twin")), twins]).sort("batch", "pos")
    bonded = pl.col("bonded")
    lists = messages(all_lists, "CEB621Message")
    inventory = lists.select(
        "_msg",
        "_doc",
        "n",
        pl.col("list_guid").alias("guid"),
        one.alias("appType"),
        (when + pl.duration(minutes=30)).alias("appTime"),
        two.alias("appStatus"),
        pl.col("order_no").alias("orderNo"),
        pl.col("platform_code").alias("ebpCode"),
        pl.col("platform_name").alias("ebpName"),
        pl.col("ebc_code").alias("ebcCode"),
        pl.col("ebc_name").alias("ebcName"),
        pl.col("logistics_no").alias("logisticsNo"),
        pl.col("logistics_code").alias("logisticsCode"),
        pl.col("logistics_name").alias("logisticsName"),
        pl.concat_str([pl.lit("C"), _zfill("n", 12)]).alias("copNo"),
        pl.col("ebc_code").alias("assureCode"),
        pl.when(bonded).then(_gather([z[4] for z in BONDED_ZONES], "zone")).alias("emsNo"),
        i_flag.alias("ieFlag"),
        when.dt.date().alias("declTime"),
        pl.when(bonded)
        .then(_gather([z[0] for z in BONDED_ZONES], "zone"))
        .otherwise(_gather([d[0] for d in DIRECT_PORTS], "port"))
        .alias("customsCode"),
        pl.when(bonded)
        .then(_gather([z[1] for z in BONDED_ZONES], "zone"))
        .otherwise(_gather([d[1] for d in DIRECT_PORTS], "port"))
        .alias("portCode"),
        one.alias("buyerIdType"),
        pl.col("buyer_id_doc").alias("buyerIdNumber"),
        pl.col("name").alias("buyerName"),
        pl.col("phone").alias("buyerTelephone"),
        pl.col("address").alias("consigneeAddress"),
        pl.col("agent_code").alias("agentCode"),
        pl.col("agent_name").alias("agentName"),
        pl.when(bonded).then(_gather([z[2] for z in BONDED_ZONES], "zone")).alias("areaCode"),
        pl.when(bonded).then(_gather([z[3] for z in BONDED_ZONES], "zone")).alias("areaName"),
        pl.when(bonded).then(pl.lit("1210")).otherwise(pl.lit("9610")).alias("tradeMode"),
        pl.when(bonded).then(pl.lit("4")).otherwise(pl.lit("5")).alias("trafMode"),
        pl.lit("116").alias("country"),
        _fen("freight").alias("freight"),
        zero.alias("insuredFee"),
        cny.alias("currency"),
        pl.lit(1, pl.Int64).alias("packNo"),
        _fen("gross").alias("grossWeight"),
        _fen("net").alias("netWeight"),
    )
    country = pl.when(pl.col("g") % 2 == 1).then(pl.lit("116")).otherwise(pl.lit("502"))
    gmodel = pl.concat_str([pl.col("sku"), pl.lit(" 规格")])
    order_lines = lines.join(order.select("n", "_msg", "_doc"), on="n", maintain_order="left").select(
        "_msg",
        "_doc",
        pl.col("g").alias("gnum"),
        pl.col("sku").alias("itemNo"),
        pl.col("name").alias("itemName"),
        gmodel.alias("gmodel"),
        pl.col("unit"),
        pl.col("qty").cast(pl.Decimal(19, 0)).alias("qty"),
        _fen("price").alias("price"),
        _fen("total").alias("totalPrice"),
        cny.alias("currency"),
        country.alias("country"),
    )
    by_weight = pl.col("unit1") == "035"
    list_lines = (
        lines.join(
            lists.select("n", "_msg", "_doc", "bonded"),
            on="n",
            maintain_order="left",
        )
        .sort("_msg", "_doc", "g")
        .select(
            "_msg",
            "_doc",
            pl.col("g").alias("gnum"),
            pl.when(pl.col("bonded"))
            .then(pl.concat_str([pl.lit("R"), pl.col("hs10"), _zfill("g", 2)]))
            .alias("itemRecordNo"),
            pl.col("sku").alias("itemNo"),
            pl.col("name").alias("itemName"),
            pl.col("hs10").alias("gcode"),
            pl.col("name").alias("gname"),
            gmodel.alias("gmodel"),
            country.alias("country"),
            cny.alias("currency"),
            pl.col("qty").cast(pl.Decimal(19, 3)).alias("qty"),
            pl.col("unit"),
            pl.when(by_weight)
            .then(_grams("grams"))
            .otherwise(pl.col("qty").cast(pl.Decimal(19, 3)))
            .alias("qty1"),
            pl.col("unit1"),
            pl.when(pl.col("unit2").is_null())
            .then(None)
            .when(pl.col("unit2") == "035")
            .then(_grams("grams"))
            .otherwise(pl.col("qty").cast(pl.Decimal(19, 3)))
            .alias("qty2"),
            pl.col("unit2"),
            _fen("price").alias("price"),
            _fen("total").alias("totalPrice"),
        )
    )
    # each file's BaseTransfer: the sender of that type for the batch
    transfers = pl.concat(
        [
            frame.select(
                "_msg",
                pl.lit(mtype).alias("type"),
                pl.col(f"{SENDER[mtype]}_code").alias("copCode"),
                pl.col(f"{SENDER[mtype]}_name").alias("copName"),
            ).unique("_msg", keep="first", maintain_order=True)
            for mtype, frame in (
                ("CEB311Message", orders),
                ("CEB411Message", messages(payments, "CEB411Message")),
                ("CEB511Message", messages(p, "CEB511Message")),
                ("CEB621Message", lists),
            )
        ]
    )
    # the ground truth for this chunk; the quota is judged over the whole day (generate.judge_quota)
    manifest = all_lists.sort("n", pl.col("twin"), descending=[False, True]).select(
        pl.concat_str([pl.col("platform_code"), pl.lit("|"), pl.col("order_no")]).alias("list_key"),
        "list_guid",
        pl.when(pl.col("twin"))
        .then(pl.lit("duplicate_list"))
        .when(pl.col("fault") == "duplicate_list")
        .then(pl.lit("clean"))  # the first of the pair is an ordinary list
        .otherwise(pl.col("fault"))
        .alias("fault"),
        pl.col("id_number").alias("buyer_id"),
        (pl.col("goods") + pl.col("freight")).alias("dutiable"),
    )
    return {
        "order": order.drop("n"),
        "order_lines": order_lines,
        "payment": payment,
        "waybill": waybill,
        "list": inventory.drop("n"),
        "list_lines": list_lines,
        "transfers": transfers,
        "manifest": manifest,
    }


def write_chunk(out: Path, config: GeneratorConfig, chunk: Chunk) -> ChunkResult:
    """Build the chunk, write its files (``out/<type>/<n>.xml``) and return its manifest rows."""
    from cbec.sim.generate import ChunkResult

    frames = build_chunk(config, chunk)
    draws = Draws(f"cbec-sim/{config.seed}/chunk/{chunk.index}/messages")
    transfers = frames["transfers"]
    files: dict[str, int] = {}
    written = 0
    documents = {
        "CEB311Message": (frames["order"], frames["order_lines"]),
        "CEB411Message": (frames["payment"], None),
        "CEB511Message": (frames["waybill"], None),
        "CEB621Message": (frames["list"], frames["list_lines"]),
    }
    for mtype, (heads, lines) in documents.items():
        senders = transfers.filter(pl.col("type") == mtype)
        planned = range(chunk.first_file[mtype], chunk.first_file[mtype] + chunk.files[mtype])
        if senders["_msg"].to_list() != list(planned):
            raise RuntimeError(f"chunk {chunk.index}: the {mtype} files differ from the plan")
        if not planned:
            continue
        guid_of = dict(zip(planned, draws.guids(len(planned)).to_list(), strict=True))
        by_msg: dict[int, dict[str, str | None]] = {
            msg: {"copCode": code, "copName": name, "dxpMode": "DXP", "dxpId": Party(code, name).dxp_id}
            for msg, code, name in senders.select("_msg", "copCode", "copName").iter_rows()
        }
        if mtype == "CEB621Message" and signing_dir() is not None:
            encoded = _signed_per_sender(mtype, heads, lines, by_msg, guid_of)
        else:
            encoded = encode_documents(
                mtype,
                heads,
                lines,
                transfers=by_msg,
                signer=identity() if mtype == "CEB621Message" else None,
                guids=guid_of,
            )
        folder = out / mtype
        arrival = chunk.arrival[mtype]
        for msg, data in encoded:
            # named by arrival number across all types, so clearing in name order replays the day
            (folder / f"{arrival[msg - chunk.first_file[mtype]]:08d}.xml").write_bytes(data)
            written += len(data)
        files[mtype] = len(encoded)
    return ChunkResult(
        index=chunk.index,
        parcels=chunk.parcels.height,
        files=files,
        bytes=written,
        manifest=frames["manifest"],
    )
