"""Rights on decoded official samples: heads as the decoder gives them, BaseTransfer included."""

from __future__ import annotations

from pathlib import Path

from _rights_testlib import NOW

from cbec.messages.decode import decode
from cbec.rights import PARTY_FIELDS, Principal, Role, authorize_read, authorize_send
from cbec.rights.roles import TRADE_ROLES
from cbec.rights.send import SEND_RULES


def test_samples_pass_for_their_parties_and_fail_for_strangers(all_samples: list[Path]) -> None:
    checked = 0
    for path in all_samples:
        msg = decode(path.read_bytes())
        if msg.message_type not in SEND_RULES:
            continue
        heads = [d.head for d in msg.documents]
        codes = {str(h[f]) for h in heads for f in PARTY_FIELDS if h.get(f)}
        assert msg.transfer is not None
        codes.add(str(msg.transfer["copCode"]))
        party = Principal.of("sample party", TRADE_ROLES, codes)
        assert authorize_send(party, msg.message_type, heads, at=NOW, transfer=msg.transfer).allowed, (
            path.name
        )
        assert all(authorize_read(party, msg.message_type, h, at=NOW).allowed for h in heads)
        stranger = Principal.of("stranger", TRADE_ROLES, ["9999000001"])
        d = authorize_send(stranger, msg.message_type, heads, at=NOW, transfer=msg.transfer)
        assert (d.status, d.field) == (403, "copCode")
        d = authorize_send(stranger, msg.message_type, heads, at=NOW)
        assert d.status == 403 and d.code == "code-not-yours" and d.document == 0
        assert not authorize_read(stranger, msg.message_type, heads[0], at=NOW).allowed
        officer = Principal.of("关员", [Role.OFFICER], district=str(heads[0].get("customsCode") or "0100"))
        assert authorize_read(officer, msg.message_type, heads[0], at=NOW).allowed == bool(
            heads[0].get("customsCode") or heads[0].get("portCode")
        )
        checked += 1
    assert checked == len(SEND_RULES)
