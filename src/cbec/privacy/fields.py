"""Which CEB fields hold personal information (个人信息), and of what kind.

Taken from the 2022 field tables (``cbec/messages/data/ceb-2022.json``): every field of a natural person —
the buyer (订购人), the payer (支付人) and the consignee (收货人) — on orders (OrderHead), payments
(PaymentHead), waybills (LogisticsHead, export Logistics), lists (InventoryHead), cancellations (InvtCancel)
and returns (InvtRefundHead).  The kind decides how a value is masked (:mod:`cbec.privacy.masking`).

Enterprise names and codes, goods and amounts are not personal; ``buyerIdType`` and ``consigneeDistrict``
(an administrative area code) say too little about one person to be worth hiding.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    ID_NUMBER = "id_number"
    """Resident ID or other identity document number (身份证件号码): sensitive personal information."""
    PHONE = "phone"
    NAME = "name"
    ADDRESS = "address"
    ACCOUNT = "account"
    """A person's account on a platform (订购人注册号)."""


PERSONAL_FIELDS: dict[str, Kind] = {
    "buyerIdNumber": Kind.ID_NUMBER,  # 订购人证件号码: orders, lists, cancellations, returns
    "payerIdNumber": Kind.ID_NUMBER,  # 支付人证件号码: payments
    "buyerTelephone": Kind.PHONE,  # 订购人电话
    "consigneeTelephone": Kind.PHONE,  # 收货人电话: orders, waybills
    "telephone": Kind.PHONE,  # 支付人电话 (PaymentHead)
    "ebcTelephone": Kind.PHONE,  # 收发货人电话 (export Logistics): may be a sole trader's own phone
    "buyerName": Kind.NAME,  # 订购人姓名
    "payerName": Kind.NAME,  # 支付人姓名
    "consignee": Kind.NAME,  # 收货人姓名
    "consigneeAddress": Kind.ADDRESS,  # 收货地址
    "buyerRegNo": Kind.ACCOUNT,  # 订购人注册号
}

#: The fields the issue names as encrypted at rest and audited when read unmasked: the most sensitive.
ID_AND_PHONE_FIELDS = frozenset(f for f, k in PERSONAL_FIELDS.items() if k in (Kind.ID_NUMBER, Kind.PHONE))


def kind_of(name: str) -> Kind | None:
    """The kind of a field, also under a prefix the engine's frames use (``o_buyerIdNumber``, ``head.x``)."""
    kind = PERSONAL_FIELDS.get(name)
    if kind is None:
        for sep in ("_", "."):
            if sep in name:
                kind = PERSONAL_FIELDS.get(name.rsplit(sep, 1)[1])
                if kind is not None:
                    break
    return kind
