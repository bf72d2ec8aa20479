"""The full role × message-type × owner matrix for sending, each case with its exact outcome.

For every data message type and every role, the sender (filed in that one role) sends a message of two
documents: the first entirely its own, the second with the field of its role holding

* ``own``      its own code → allowed when the role sends this type;
* ``other``    a stranger's code → 403 ``code-not-yours`` on that field, document 1;
* ``granted``  a code whose owner granted the sender this role for this message type → allowed;
* ``expired``  the same, but the grant expired yesterday → 403 ``grant-expired`` on that field, document 1.

A role that does not send the type gets 403 ``role-not-allowed`` whatever the codes.  On lists (and the
cancellations, returns and summaries that follow them) the other bound party (agent for an enterprise,
enterprise for an agent) has granted its consent in all four cases.
"""

from __future__ import annotations

import pytest
from _rights_testlib import (
    DATA_TYPES,
    NOW,
    OTHER,
    OWNER,
    PARTNER,
    PRIMARY_FIELD,
    ROLE_OF_FIELD,
    SELF,
    SENDERS,
    YESTERDAY,
    document,
    grant,
    head_fields,
    principal,
    secondary_fields,
)

from cbec.rights import Grant, Role, authorize_send

CASES = ("own", "other", "granted", "expired")
MATRIX = [(mt, role, case) for mt in DATA_TYPES for role in Role for case in CASES]


def _case(mt: str, role: Role, case: str) -> tuple[list[Grant], dict[str, object], str | None]:
    grants: list[Grant] = []
    values: dict[str, str] = {}
    for n, f in enumerate(secondary_fields(mt, role), start=10):
        values[f] = PARTNER
        grants.append(grant(PARTNER, ROLE_OF_FIELD[f], mt, grant_id=n))
    primary = PRIMARY_FIELD.get(role)
    if primary is not None and primary not in head_fields(mt):
        primary = None
    good = document(mt, **values, **({primary: SELF} if primary else {}))
    if primary is None:
        return grants, good, None
    code = {"own": SELF, "other": OTHER, "granted": OWNER, "expired": OWNER}[case]
    if case == "granted":
        grants.append(grant(OWNER, role, mt))
    elif case == "expired":
        grants.append(grant(OWNER, role, mt, expires_at=YESTERDAY))
    return grants, document(mt, **values, **{primary: code}), primary


@pytest.mark.parametrize(
    ("mt", "role", "case"), MATRIX, ids=[f"{m[3:6]}-{r.value}-{c}" for m, r, c in MATRIX]
)
def test_send(mt: str, role: Role, case: str) -> None:
    grants, doc, primary = _case(mt, role, case)
    sender = principal(role, grants=tuple(grants), district="2200" if role is Role.OFFICER else None)
    decision = authorize_send(sender, mt, [_own_doc(mt, role), doc], at=NOW, transfer={"copCode": SELF})
    if role not in SENDERS[mt]:
        assert (decision.allowed, decision.status, decision.code) == (False, 403, "role-not-allowed")
        assert decision.field is None and decision.document is None
        assert decision.reason_zh and decision.reason_en
        return
    assert primary is not None, f"{role} sends {mt} but has no field in it"
    expected = {
        "own": (True, 200, "ok", None, None),
        "granted": (True, 200, "ok", None, None),
        "other": (False, 403, "code-not-yours", primary, 1),
        "expired": (False, 403, "grant-expired", primary, 1),
    }[case]
    got = (decision.allowed, decision.status, decision.code, decision.field, decision.document)
    assert got == expected, decision.reason
    if not decision.allowed:
        assert OTHER in decision.reason_en or OWNER in decision.reason_en


def _own_doc(mt: str, role: Role) -> dict[str, object]:
    _, doc, _ = _case(mt, role, "own")
    return doc


def test_matrix_covers_every_data_message_of_the_spec() -> None:
    from cbec.messages.spec import catalogue

    data = {root for root, spec in catalogue().messages.items() if spec.kind == "data"}
    assert data == set(SENDERS)
