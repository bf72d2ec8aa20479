"""Synthetic buyers: names, resident ID numbers with a correct check digit, phones, addresses."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cbec.rules.resident_id import check_digit

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


@dataclass(frozen=True)
class Buyer:
    name: str
    id_number: str
    phone: str
    district: str
    address: str


def resident_id(rng: random.Random, area: str) -> str:
    year = rng.randint(1965, 2004)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    body = f"{area}{year:04d}{month:02d}{day:02d}{rng.randint(0, 999):03d}"
    return body + check_digit(body)


def make_buyer(rng: random.Random) -> Buyer:
    area, city, district = rng.choice(AREAS)
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    phone = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
    street = f"{rng.choice(STREETS)}{rng.randint(1, 999)}号"
    address = f"{city}{district}{street}{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室"
    return Buyer(name=name, id_number=resident_id(rng, area), phone=phone, district=area, address=address)
