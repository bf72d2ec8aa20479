"""Sending: the cases around the matrix — entrusted senders, several roles, lapsed grants, envelopes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _rights_testlib import (
    NEXT_YEAR,
    NOW,
    OTHER,
    OWNER,
    PARTNER,
    SELF,
    YESTERDAY,
    document,
    grant,
    principal,
)

from cbec.rights import Principal, Role, authorize_send, normalize_message_type, sendable_message_types
from cbec.rights.send import CUSTOMS_ISSUED, SEND_RULES


def _outcome(p: Principal, mt: str, *docs: dict[str, object], **kw: object) -> tuple[object, ...]:
    d = authorize_send(p, mt, list(docs), at=NOW, **kw)  # type: ignore[arg-type]
    assert d.allowed or (d.reason_zh and d.reason_en)
    return (d.status, d.code, d.field, d.document)


OK = (200, "ok", None, None)


def test_entrusted_express_operator_sends_orders_under_a_grant() -> None:
    """受委托的快件运营人: a logistics company sends CEB311 only as an e-commerce enterprise's delegate."""
    order = document("CEB311Message", ebcCode=OWNER)
    alone = principal(Role.LOGISTICS)
    assert _outcome(alone, "CEB311Message", order)[:2] == (403, "role-not-allowed")
    entrusted = principal(Role.LOGISTICS, grants=(grant(OWNER, Role.ECOMMERCE, "CEB311Message"),))
    assert _outcome(entrusted, "CEB311Message", order) == OK
    # the grant is the owner's code only: an order of another enterprise is still refused
    assert _outcome(entrusted, "CEB311Message", order, document("CEB311Message", ebcCode=OTHER)) == (
        403,
        "code-not-yours",
        "ebcCode",
        1,
    )
    # and its own code in ebcCode does not make it an e-commerce enterprise
    assert _outcome(entrusted, "CEB311Message", document("CEB311Message", ebcCode=SELF)) == (
        403,
        "role-not-filed",
        "ebcCode",
        0,
    )
    lapsed = principal(
        Role.LOGISTICS, grants=(grant(OWNER, Role.ECOMMERCE, "CEB311Message", expires_at=YESTERDAY),)
    )
    assert _outcome(lapsed, "CEB311Message", order) == (403, "grant-expired", "ebcCode", None)
    other_type = principal(Role.LOGISTICS, grants=(grant(OWNER, Role.ECOMMERCE, "CEB303Message"),))
    assert _outcome(other_type, "CEB311Message", order)[:2] == (403, "role-not-allowed")


def test_self_operated_store_sends_in_either_role() -> None:
    both = principal(Role.PLATFORM, Role.ECOMMERCE)
    marketplace_order = document("CEB311Message", ebpCode=SELF, ebcCode=OTHER)
    own_goods_elsewhere = document("CEB311Message", ebpCode=OTHER, ebcCode=SELF)
    assert _outcome(both, "CEB311Message", marketplace_order, own_goods_elsewhere) == OK
    neither = document("CEB311Message", ebpCode=OTHER, ebcCode=OTHER)
    # the refusal names the first role's field (platform before e-commerce enterprise)
    assert _outcome(both, "CEB311Message", neither) == (403, "code-not-yours", "ebpCode", 0)


def test_list_needs_both_enterprise_and_agent() -> None:
    agent = principal(Role.AGENT, grants=(grant(PARTNER, Role.ECOMMERCE, "CEB621Message"),))
    ok = document("CEB621Message", agentCode=SELF, ebcCode=PARTNER)
    assert _outcome(agent, "CEB621Message", ok) == OK
    not_entrusted = document("CEB621Message", agentCode=SELF, ebcCode=OTHER)
    assert _outcome(agent, "CEB621Message", ok, not_entrusted) == (403, "code-not-yours", "ebcCode", 1)
    # a cancellation needs the same consent: no agent cancels another enterprise's lists
    assert _outcome(agent, "CEB623Message", document("CEB623Message", agentCode=SELF, ebcCode=PARTNER)) == (
        403,
        "grant-not-for-message",
        "ebcCode",
        0,
    )
    # an enterprise declaring for itself must also be filed as declaring agent
    ebc = principal(Role.ECOMMERCE)
    self_declared = document("CEB621Message", agentCode=SELF, ebcCode=SELF)
    assert _outcome(ebc, "CEB621Message", self_declared) == (403, "role-not-filed", "agentCode", 0)
    assert _outcome(principal(Role.ECOMMERCE, Role.AGENT), "CEB621Message", self_declared) == OK


def test_grant_of_one_role_does_not_cover_another_field() -> None:
    agent = principal(Role.AGENT, grants=(grant(PARTNER, Role.ECOMMERCE),))
    wrong_field = document("CEB621Message", agentCode=PARTNER, ebcCode=PARTNER)
    assert _outcome(agent, "CEB621Message", wrong_field) == (403, "code-not-yours", "agentCode", 0)


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"revoked_at": NOW - timedelta(minutes=1)}, "grant-revoked"),
        ({"expires_at": NOW}, "grant-expired"),
        ({"valid_from": NOW + timedelta(days=1)}, "grant-not-yet-valid"),
        ({"expires_at": NEXT_YEAR, "revoked_at": NOW + timedelta(days=1)}, "ok"),
    ],
)
def test_grant_validity(kw: dict[str, object], code: str) -> None:
    p = principal(Role.PAYMENT, grants=(grant(OWNER, Role.PAYMENT, "CEB411Message", **kw),))  # type: ignore[arg-type]
    assert _outcome(p, "CEB411Message", document("CEB411Message", payCode=OWNER))[1] == code


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_bound_field(value: object) -> None:
    p = principal(Role.LOGISTICS)
    doc = document("CEB511Message")
    doc["logisticsCode"] = value
    assert _outcome(p, "CEB511Message", doc) == (403, "field-empty", "logisticsCode", 0)


def test_codes_compare_without_case_and_blanks() -> None:
    p = Principal.of("x", [Role.PAYMENT], ["91350100M000100Y43"])
    doc = document("CEB411Message", payCode=" 91350100m000100y43 ")
    assert _outcome(p, "CEB411Message", doc, transfer={"copCode": "91350100m000100y43"}) == OK


def test_copcode_must_be_the_senders_own() -> None:
    p = principal(Role.LOGISTICS, grants=(grant(OWNER, Role.LOGISTICS),))
    doc = document("CEB511Message", logisticsCode=SELF)
    assert _outcome(p, "CEB511Message", doc, transfer={"copCode": SELF}) == OK
    assert _outcome(p, "CEB511Message", doc) == OK  # JSON submissions without BaseTransfer
    for cop in (OWNER, OTHER, "", None):
        assert _outcome(p, "CEB511Message", doc, transfer={"copCode": cop}) == (
            403,
            "copcode-not-yours",
            "copCode",
            None,
        )


@pytest.mark.parametrize("count", [0, 101])
def test_document_count(count: int) -> None:
    p = principal(Role.LOGISTICS)
    docs = [document("CEB511Message", logisticsCode=SELF)] * count
    assert _outcome(p, "CEB511Message", *docs) == (403, "document-count", "documents", None)


def test_hundred_documents_all_checked() -> None:
    p = principal(Role.LOGISTICS)
    docs = [document("CEB511Message", logisticsCode=SELF) for _ in range(100)]
    assert _outcome(p, "CEB511Message", *docs) == OK
    docs[99] = document("CEB511Message", logisticsCode=OTHER)
    assert _outcome(p, "CEB511Message", *docs) == (403, "code-not-yours", "logisticsCode", 99)


@pytest.mark.parametrize("mt", sorted(CUSTOMS_ISSUED))
@pytest.mark.parametrize("role", list(Role))
def test_receipts_are_sent_by_no_one(mt: str, role: Role) -> None:
    p = principal(role, district="2200" if role is Role.OFFICER else None)
    assert _outcome(p, mt, {"ebcCode": SELF})[:2] == (403, "customs-issued")


def test_unknown_message_type() -> None:
    assert _outcome(principal(Role.ADMIN), "CEB999Message", {})[:2] == (403, "unknown-message-type")
    assert _outcome(principal(Role.ADMIN), "order", {})[:2] == (403, "unknown-message-type")


def test_message_type_spellings() -> None:
    assert normalize_message_type("CEB311Message") == "CEB311Message"
    assert normalize_message_type("ceb311") == "CEB311Message"
    assert normalize_message_type(" 311 ") == "CEB311Message"
    assert normalize_message_type("CEB31") is None
    p = principal(Role.PLATFORM)
    assert _outcome(p, "311", document("CEB311Message", ebpCode=SELF)) == OK


def test_sendable_message_types() -> None:
    p = principal(Role.LOGISTICS, grants=(grant(OWNER, Role.ECOMMERCE, "CEB311Message"),))
    assert sendable_message_types(p, NOW) == [
        "CEB311Message",
        "CEB511Message",
        "CEB513Message",
        "CEB505Message",
        "CEB509Message",
    ]
    assert sendable_message_types(principal(Role.ADMIN), NOW) == []


def test_rules_name_only_fields_the_spec_has() -> None:
    from cbec.messages.spec import catalogue

    cat = catalogue()
    for mt, rule in SEND_RULES.items():
        head = set(cat.messages[mt].head.names)
        for role, fields in rule.bound.items():
            assert set(fields) <= head, (mt, role, fields)
    every = {root for root in cat.messages}
    assert set(SEND_RULES) | CUSTOMS_ISSUED == every
    assert not set(SEND_RULES) & CUSTOMS_ISSUED
