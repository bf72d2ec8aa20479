"""Who may send which CEB message, and under whose codes.

Two questions are asked of every message, in this order:

1. **May the sender act in a role that sends this message type?**  The roles come from the regime
   reference (§1 and the §2.2 catalogue, i.e. the XSD root annotations and GACC announcement 2018 No.194):
   platforms and e-commerce enterprises send orders, payment enterprises payment documents, logistics
   enterprises waybills, e-commerce enterprises or their declaring agents lists, cancellations, returns and
   summaries, supervised-site operators entry, arrival and tally documents.  A grant from an enterprise
   filed in such a role also lets the holder act in that role under the owner's codes: this is how an
   express or postal operator entrusted by an e-commerce enterprise sends its orders (受委托的快件运营人).
   Receipts and customs' own messages (tax bills, summary results, CEB900) are sent by no enterprise.

2. **Is every document the sender's?**  For the role it acts in, each listed *bound field* of every
   document must hold a code the sender owns *in that field's capacity* (its code in ``ebcCode`` counts only
   when it is filed as an e-commerce enterprise), or a code whose owner granted the sender that capacity
   for this message type, valid now.  Lists and the documents that follow them (cancellation, return,
   summary) bind both the e-commerce enterprise and the declaring agent: the enterprise answers for the
   goods, the agent for the declaration, so each must have consented.  Other party fields (the platform on
   a list, the logistics enterprise on an order …) only name a counterparty; three-document matching, not
   rights, checks them.  ``copCode`` of BaseTransfer, when given, must be one of the sender's own codes:
   the spec says it must match the identity of the connected client.

A message holds 1 to 100 documents and passes only if every document passes; the refusal names the first
document and field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cbec.rights.decision import ALLOWED, Decision, forbidden
from cbec.rights.identity import normalize_code
from cbec.rights.principal import Grant, GrantState, Principal
from cbec.rights.roles import Role, capacity_of, role_label

__all__ = [
    "CUSTOMS_ISSUED",
    "MAX_DOCUMENTS",
    "SEND_RULES",
    "SendRule",
    "authorize_send",
    "check_field",
    "message_name",
    "normalize_message_type",
    "sendable_message_types",
]

MAX_DOCUMENTS = 100

EBP, EBC, PAY, LOG, AGT, OPR = (
    Role.PLATFORM,
    Role.ECOMMERCE,
    Role.PAYMENT,
    Role.LOGISTICS,
    Role.AGENT,
    Role.OPERATOR,
)
_LIST = ("ebcCode", "agentCode")  # lists and what follows them bind the enterprise and its declaring agent


@dataclass(frozen=True, slots=True)
class SendRule:
    """One data message type: its names and, per role that may send it, the fields bound to the sender."""

    message_type: str
    name_zh: str
    name_en: str
    bound: Mapping[Role, tuple[str, ...]]

    @property
    def roles(self) -> tuple[Role, ...]:
        return tuple(self.bound)


def _rule(code: str, zh: str, en: str, bound: dict[Role, tuple[str, ...]]) -> SendRule:
    return SendRule(f"CEB{code}Message", zh, en, bound)


_RULES = (
    # import (进口)
    _rule("311", "电子订单", "import order", {EBP: ("ebpCode",), EBC: ("ebcCode",)}),
    _rule("411", "支付凭证", "payment voucher", {PAY: ("payCode",)}),
    _rule("511", "物流运单", "import waybill", {LOG: ("logisticsCode",)}),
    _rule("513", "物流运单状态", "waybill status", {LOG: ("logisticsCode",)}),
    _rule("621", "进口清单", "import list", {EBC: _LIST, AGT: _LIST}),
    _rule("623", "撤销申请单", "import list cancellation", {EBC: _LIST, AGT: _LIST}),
    _rule("625", "退货申请单", "import return application", {EBC: _LIST, AGT: _LIST}),
    _rule("711", "入库明细单", "warehouse entry detail", {OPR: ("operatorCode",)}),
    # export (出口)
    _rule("303", "出口订单", "export order", {EBP: ("ebpCode",), EBC: ("ebcCode",)}),
    _rule("403", "收款单", "receipt of payment", {PAY: ("payCode",), EBC: ("ebcCode",)}),
    _rule("505", "出口运单", "export waybill", {LOG: ("logisticsCode",)}),
    _rule("507", "运抵单", "arrival note", {OPR: ("operatorCode",)}),
    _rule("509", "离境单", "departure note", {LOG: ("logisticsCode",)}),
    _rule("603", "出口清单", "export list", {EBC: _LIST, AGT: _LIST}),
    _rule("605", "出口撤销申请单", "export list cancellation", {EBC: _LIST, AGT: _LIST}),
    _rule("607", "清单总分单", "master/sub-bill of lists", {AGT: ("agentCode",)}),
    _rule("213", "零售出口退货申请单", "export return application", {EBC: _LIST, AGT: _LIST}),
    _rule("215", "出口退运理货明细单", "export return tally detail", {OPR: ("operatorCode",)}),
    _rule("701", "汇总申请单", "summary application", {EBC: _LIST, AGT: _LIST}),
)
#: Data message type (root name, ``CEB311Message``) → who may send it and the fields bound to the sender.
SEND_RULES: dict[str, SendRule] = {r.message_type: r for r in _RULES}

#: Messages only customs or the e-port issue: every receipt, tax bills (816/818), summary results (792)
#: and the format-check receipt (900).
CUSTOMS_ISSUED: frozenset[str] = frozenset(
    f"CEB{code}Message"
    for code in (
        *("312", "412", "512", "514", "622", "624", "626", "712", "816", "818", "900"),
        *("304", "404", "506", "508", "510", "604", "606", "608", "214", "216", "702", "792"),
    )
)

_TYPE_RE = re.compile(r"^(?:CEB)?(\d{3})(?:Message)?$", re.IGNORECASE)


def normalize_message_type(text: str) -> str | None:
    """``CEB311Message`` from ``CEB311Message``, ``CEB311`` or ``311``; None for anything else."""
    m = _TYPE_RE.match(text.strip())
    return f"CEB{m.group(1)}Message" if m else None


def message_name(message_type: str) -> tuple[str, str]:
    """(中文, English) name of a data message type, falling back to the type itself."""
    rule = SEND_RULES.get(message_type)
    return (rule.name_zh, rule.name_en) if rule else (message_type, message_type)


def _roles_text(roles: Iterable[Role]) -> tuple[str, str]:
    labels = [role_label(r) for r in roles]
    return "、".join(z for z, _ in labels), ", ".join(e for _, e in labels)


def _acting_roles(principal: Principal, rule: SendRule, at: datetime) -> tuple[list[Role], list[Grant]]:
    """Roles the principal can send this type in (held first, then conferred by valid grants), and the
    lapsed grants that would have conferred one (to explain a refusal)."""
    acting = [r for r in rule.roles if r in principal.roles]
    lapsed: list[Grant] = []
    for g in principal.grants:
        if g.role not in rule.bound or not g.covers(rule.message_type):
            continue
        if g.state(at) is GrantState.VALID:
            if g.role not in acting:
                acting.append(g.role)
        else:
            lapsed.append(g)
    return acting, lapsed


def _grant_refusal(g: Grant, field: str, code: str, at: datetime) -> Decision:
    state = g.state(at)
    zh_role, en_role = role_label(g.role)
    if state is GrantState.REVOKED:
        when = g.revoked_at.isoformat() if g.revoked_at else ""
        return forbidden(
            "grant-revoked",
            f"{field} {code}：{g.owner} 的{zh_role}授权已于 {when} 撤销",
            f"{field} {code}: the {en_role} grant from {g.owner} was revoked at {when}",
            field=field,
        )
    if state is GrantState.EXPIRED:
        when = g.expires_at.isoformat() if g.expires_at else ""
        return forbidden(
            "grant-expired",
            f"{field} {code}：{g.owner} 的{zh_role}授权已于 {when} 到期",
            f"{field} {code}: the {en_role} grant from {g.owner} expired at {when}",
            field=field,
        )
    if state is GrantState.NOT_YET:
        when = g.valid_from.isoformat() if g.valid_from else ""
        return forbidden(
            "grant-not-yet-valid",
            f"{field} {code}：{g.owner} 的{zh_role}授权自 {when} 起生效",
            f"{field} {code}: the {en_role} grant from {g.owner} is valid only from {when}",
            field=field,
        )
    types = ", ".join(sorted(g.message_types))
    return forbidden(
        "grant-not-for-message",
        f"{field} {code}：{g.owner} 的{zh_role}授权仅限 {types}",
        f"{field} {code}: the {en_role} grant from {g.owner} covers only {types}",
        field=field,
    )


def check_field(principal: Principal, message_type: str, field: str, value: object, at: datetime) -> Decision:
    """Whether ``field`` of one document holds a code the principal may declare under (see module doc)."""
    code = normalize_code(str(value)) if value is not None else ""
    capacity = capacity_of(field)
    if not code:
        return forbidden(
            "field-empty",
            f"{field} 为空，无法确认该单证由发送方负责",
            f"{field} is empty: the document cannot be tied to the sender",
            field=field,
        )
    if capacity is None:  # pragma: no cover - the rule table binds capacity fields only
        raise ValueError(f"{field} is not a party-code field")
    if code in principal.codes and capacity in principal.roles:
        return ALLOWED
    grants = [g for g in principal.grants if code in g.owner_codes and g.role is capacity]
    if any(g.covers(message_type) and g.state(at) is GrantState.VALID for g in grants):
        return ALLOWED
    zh_role, en_role = role_label(capacity)
    if grants:
        covering = [g for g in grants if g.covers(message_type)]
        return _grant_refusal((covering or grants)[0], field, code, at)
    if code in principal.codes:
        return forbidden(
            "role-not-filed",
            f"{field} 填写的是本企业代码 {code}，但本企业未备案为{zh_role}",
            f"{field} holds your own code {code}, but you are not filed as {en_role}",
            field=field,
        )
    return forbidden(
        "code-not-yours",
        f"{field} {code} 不是本企业代码，也未获其所有人作为{zh_role}的授权",
        f"{field} {code} is not your code and its owner has not granted it to you as {en_role}",
        field=field,
    )


def _check_document(
    principal: Principal, rule: SendRule, roles: Sequence[Role], doc: Mapping[str, object], at: datetime
) -> Decision:
    first: Decision | None = None
    for role in roles:
        for name in rule.bound[role]:
            outcome = check_field(principal, rule.message_type, name, doc.get(name), at)
            if not outcome.allowed:
                if first is None:
                    first = outcome
                break
        else:
            return ALLOWED
    assert first is not None
    return first


def authorize_send(
    principal: Principal,
    message_type: str,
    documents: Sequence[Mapping[str, object]],
    *,
    at: datetime,
    transfer: Mapping[str, object] | None = None,
) -> Decision:
    """May ``principal`` send this message?  ``documents`` are the document heads (field → value).

    ``transfer`` is the message's BaseTransfer (``copCode`` …) when it has one.  ``at`` (timezone-aware) is
    when the message arrived: grants are judged valid or not at that moment.
    """
    mt = normalize_message_type(message_type)
    rule = SEND_RULES.get(mt) if mt else None
    if rule is None:
        if mt in CUSTOMS_ISSUED:
            return forbidden(
                "customs-issued",
                f"{mt} 是海关或电子口岸签发的回执/单证，企业不得发送",
                f"{mt} is a receipt or document issued by customs or the e-port; enterprises do not send it",
            )
        return forbidden(
            "unknown-message-type",
            f"未知的报文类型 {message_type!r}",
            f"unknown message type {message_type!r}",
        )
    acting, lapsed = _acting_roles(principal, rule, at)
    if not acting:
        if lapsed:
            g = lapsed[0]
            code = min(g.owner_codes) if g.owner_codes else g.owner
            fields = rule.bound[g.role]
            field = next((f for f in fields if capacity_of(f) is g.role), fields[0])
            return _grant_refusal(g, field, code, at)
        allowed_zh, allowed_en = _roles_text(rule.roles)
        mine_zh, mine_en = _roles_text(sorted(principal.roles)) if principal.roles else ("无", "none")
        return forbidden(
            "role-not-allowed",
            f"{rule.name_zh}（{rule.message_type}）只能由{allowed_zh}发送；本企业角色：{mine_zh}",
            f"{rule.name_en} ({rule.message_type}) is sent only by: {allowed_en}; your roles: {mine_en}",
        )
    if not 1 <= len(documents) <= MAX_DOCUMENTS:
        return forbidden(
            "document-count",
            f"一份报文须含 1 至 {MAX_DOCUMENTS} 个单证，本报文有 {len(documents)} 个",
            f"a message carries 1 to {MAX_DOCUMENTS} documents; this one has {len(documents)}",
            field="documents",
        )
    if transfer is not None:
        cop = normalize_code(str(transfer.get("copCode") or ""))
        if cop not in principal.codes:
            return forbidden(
                "copcode-not-yours",
                f"BaseTransfer 的 copCode {cop or '(空)'} 须为发送企业自己的代码",
                f"BaseTransfer copCode {cop or '(empty)'} must be the sending enterprise's own code",
                field="copCode",
            )
    for index, doc in enumerate(documents):
        outcome = _check_document(principal, rule, acting, doc, at)
        if not outcome.allowed:
            return outcome.at_document(index)
    return ALLOWED


def sendable_message_types(principal: Principal, at: datetime) -> list[str]:
    """The data message types the principal may send in some role (own or granted), in catalogue order."""
    return [mt for mt, rule in SEND_RULES.items() if _acting_roles(principal, rule, at)[0]]
