"""Reading: role × message-type × owner, each case with its exact outcome.

Trade roles read a document whose field of their role holds their own code or a code granted to them for
that message type (``own``, ``granted`` → allowed); a stranger's code there is 403 ``not-a-party``, an
expired grant 403 ``grant-expired`` on that field.  Where the message has no field of the role, nothing
makes the document theirs.  Officers read by customs district, administrators everything.
"""

from __future__ import annotations

import pytest
from _rights_testlib import (
    DATA_TYPES,
    NEUTRAL,
    NOW,
    OTHER,
    OWNER,
    SELF,
    YESTERDAY,
    document,
    grant,
    head_fields,
    principal,
)

from cbec.messages.spec import catalogue
from cbec.rights import CAPACITY_FIELDS, PARTY_FIELDS, Role, authorize_read, read_scope
from cbec.rights.roles import TRADE_ROLES

CASES = ("own", "other", "granted", "expired")
TRADE = sorted(TRADE_ROLES)
MATRIX = [(mt, role, case) for mt in DATA_TYPES for role in TRADE for case in CASES]


def _field(mt: str, role: Role) -> str | None:
    return next((f for f in CAPACITY_FIELDS[role] if f in head_fields(mt)), None)


@pytest.mark.parametrize(
    ("mt", "role", "case"), MATRIX, ids=[f"{m[3:6]}-{r.value}-{c}" for m, r, c in MATRIX]
)
def test_enterprise_reads(mt: str, role: Role, case: str) -> None:
    field = _field(mt, role)
    code = {"own": SELF, "other": OTHER, "granted": OWNER, "expired": OWNER}[case]
    grants = {
        "granted": (grant(OWNER, role, mt),),
        "expired": (grant(OWNER, role, mt, expires_at=YESTERDAY),),
    }.get(case, ())
    doc = document(mt, **({field: code} if field else {}))
    decision = authorize_read(principal(role, grants=grants), mt, doc, at=NOW)
    got = (decision.allowed, decision.status, decision.code, decision.field)
    if field is None:
        assert got == (False, 403, "not-a-party", None)
    elif case in ("own", "granted"):
        assert got == (True, 200, "ok", None)
    elif case == "other":
        assert got == (False, 403, "not-a-party", None)
    else:
        assert got == (False, 403, "grant-expired", field)
    assert decision.allowed or (decision.reason_zh and decision.reason_en)


@pytest.mark.parametrize("mt", DATA_TYPES)
def test_own_code_in_any_party_field_reads(mt: str) -> None:
    """Any party field counts for the enterprise's own code, whatever its roles (a payment company named
    as guarantor, a producer named as ownerCode …)."""
    for field in [f for f in head_fields(mt) if f in PARTY_FIELDS]:
        assert authorize_read(principal(Role.PAYMENT), mt, document(mt, **{field: SELF}), at=NOW).allowed


def test_grant_reads_only_its_message_types_and_fields() -> None:
    agent = principal(Role.AGENT, grants=(grant(OWNER, Role.ECOMMERCE, "CEB621Message"),))
    assert authorize_read(agent, "CEB621Message", document("CEB621Message", ebcCode=OWNER), at=NOW).allowed
    assert not authorize_read(
        agent, "CEB311Message", document("CEB311Message", ebcCode=OWNER), at=NOW
    ).allowed
    wrong_field = document("CEB621Message", agentCode=OWNER)
    assert authorize_read(agent, "CEB621Message", wrong_field, at=NOW).code == "not-a-party"
    # receipts carry the same party fields; a grant for the list covers its receipt only if it names it
    receipt = {"ebcCode": OWNER, "ebpCode": NEUTRAL, "agentCode": NEUTRAL, "customsCode": "2244"}
    assert not authorize_read(agent, "CEB622Message", receipt, at=NOW).allowed
    wide = principal(Role.AGENT, grants=(grant(OWNER, Role.ECOMMERCE),))
    assert authorize_read(wide, "CEB622Message", receipt, at=NOW).allowed


DISTRICT_TYPES = [mt for mt in DATA_TYPES if {"customsCode", "portCode"} & set(head_fields(mt))]
NO_DISTRICT_TYPES = [mt for mt in DATA_TYPES if mt not in DISTRICT_TYPES]


PORT_TYPES = [mt for mt in DISTRICT_TYPES if "portCode" in head_fields(mt)]
OUTSIDE = "0100"  # Beijing: outside every district used below


@pytest.mark.parametrize("mt", DISTRICT_TYPES)
@pytest.mark.parametrize(
    ("district", "customs", "expected"),
    [
        ("2200", "2244", "ok"),  # a directly-under customs covers its field offices
        ("2200", "2200", "ok"),
        ("2244", "2244", "ok"),  # a field office sees its own documents …
        ("2244", "2233", "other-district"),  # … not its sister office's
        ("2200", "2900", "other-district"),
    ],
)
def test_officer_reads_by_declaring_customs(mt: str, district: str, customs: str, expected: str) -> None:
    doc = document(mt, customsCode=customs)
    if mt in PORT_TYPES:
        doc["portCode"] = OUTSIDE
    decision = authorize_read(principal(Role.OFFICER, district=district), mt, doc, at=NOW)
    assert (decision.status, decision.code) == ((200, "ok") if expected == "ok" else (403, expected))


@pytest.mark.parametrize("mt", PORT_TYPES)
@pytest.mark.parametrize(
    ("district", "expected"), [("2200", "ok"), ("2233", "ok"), ("2244", "other-district")]
)
def test_officer_reads_by_port(mt: str, district: str, expected: str) -> None:
    doc = document(mt, customsCode=OUTSIDE, portCode="2233")
    decision = authorize_read(principal(Role.OFFICER, district=district), mt, doc, at=NOW)
    assert (decision.status, decision.code) == ((200, "ok") if expected == "ok" else (403, expected))


@pytest.mark.parametrize("mt", NO_DISTRICT_TYPES)
def test_officer_reads_orders_through_their_lists(mt: str) -> None:
    officer = principal(Role.OFFICER, district="2900")
    doc = document(mt)
    assert authorize_read(officer, mt, doc, at=NOW).code == "no-district"
    assert authorize_read(officer, mt, doc, at=NOW, linked_districts=["2924"]).allowed
    assert authorize_read(officer, mt, doc, at=NOW, linked_districts=["5349"]).code == "other-district"


def test_officer_account_is_not_a_party_code() -> None:
    from cbec.rights import Principal

    officer = Principal.of("关员 0421", [Role.OFFICER], ["1101000001"], district="2900")
    assert authorize_read(
        officer, "CEB311Message", document("CEB311Message", ebcCode="1101000001"), at=NOW
    ).code == ("no-district")


@pytest.mark.parametrize("mt", sorted(catalogue().messages))
def test_administrator_reads_everything(mt: str) -> None:
    assert authorize_read(principal(Role.ADMIN), mt, {}, at=NOW).allowed


def test_read_scope_is_the_same_rule_as_data() -> None:
    p = principal(Role.AGENT, grants=(grant(OWNER, Role.ECOMMERCE, "CEB621Message"),))
    scope = read_scope(p, NOW)
    assert not scope.everything and scope.codes == {SELF} and scope.district is None
    assert scope.matches("CEB621Message", {"ebcCode": OWNER})
    assert not scope.matches("CEB623Message", {"ebcCode": OWNER})
    assert scope.matches("CEB623Message", {"agentCode": SELF})
    assert read_scope(principal(Role.ADMIN), NOW).everything
    assert read_scope(principal(Role.OFFICER, district="2200"), NOW).district == "2200"
    expired = principal(Role.AGENT, grants=(grant(OWNER, Role.ECOMMERCE, expires_at=YESTERDAY),))
    assert read_scope(expired, NOW).granted == ()
