"""The console's words in 中文 and English, and how a request picks its language.

One table rather than gettext catalogues: the console has a few hundred words, both languages are always
shipped, and a missing entry shows up as its key on the page instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "cbec_lang"

WORDS: dict[str, tuple[str, str]] = {
    "app": ("跨境电商通关服务平台", "cbec clearance console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "api_key": ("API 密钥", "API key"),
    "login_hint": (
        "粘贴 `cbec enterprise key` 签发给您的 API 密钥。密钥仅保存在本浏览器的 HttpOnly Cookie 中。",
        "Paste the API key issued to you by `cbec enterprise key`. It is kept only in an HttpOnly cookie "
        "of this browser.",
    ),
    "logged_in_as": ("当前用户", "Signed in as"),
    "overview": ("总览", "Overview"),
    "queue_review": ("人工审核", "Manual review"),
    "queue_inspection": ("查验", "Inspection"),
    "search": ("单证查询", "Document search"),
    "receipts": ("回执", "Receipts"),
    "documents": ("我的单证", "My documents"),
    "rejections": ("退单原因", "Rejections"),
    "tax": ("电子税单", "Tax bills"),
    "quota": ("额度查询", "Quota look-up"),
    "ledgers": ("保税账册", "Bonded ledgers"),
    "warehouse_entries": ("入库明细单", "Warehouse entries"),
    "gate": ("闸口看板", "Gate board"),
    "exports": ("出口清单", "Exports"),
    "summaries": ("汇总申报", "Summary declarations"),
    "returns": ("退货", "Returns"),
    "forbidden": ("无权访问", "Forbidden"),
    "not_found": ("未找到", "Not found"),
    "error": ("错误", "Error"),
    "back": ("返回", "Back"),
    "today": ("今日", "Today"),
    "day": ("日期", "Day"),
    "show": ("显示", "Show"),
    "scope": ("范围", "Scope"),
    "scope_all": ("全部（管理员）", "everything (administrator)"),
    "scope_district": (
        "本关区清单（按清单编号的关区）",
        "lists of your district (by the list number's customs code)",
    ),
    "scope_codes": ("您发送的单证及您平台下的清单", "what you sent, and lists under your platform codes"),
    "volumes": ("今日报文量（按报文类型）", "Messages today, by type"),
    "lists_today": ("今日清单判定", "Lists decided today"),
    "release_rate": ("放行率", "Release rate"),
    "latency": ("判定时延（判定时间 − 到达时间）", "Decision latency (decision time − arrival)"),
    "mean": ("平均", "mean"),
    "latency_note": (
        "时延取当日最近 {n} 份判定；数字每 20 秒刷新",
        "latency from the day's latest {n} decisions; figures refreshed every 20 s",
    ),
    "max": ("最长", "max"),
    "count": ("数量", "count"),
    "message_type": ("报文类型", "message type"),
    "status": ("状态", "status"),
    "rule": ("规则", "rule"),
    "code": ("代码", "code"),
    "reason": ("原因", "reason"),
    "example_reason": ("原因示例", "example reason"),
    "nothing": ("暂无数据", "nothing yet"),
    "invt_no": ("清单编号", "list number (invtNo)"),
    "list_key": ("清单业务主键", "list key"),
    "selected_at": ("选中时间", "selected at"),
    "arrived_at": ("到达时间", "arrived at"),
    "why_selected": ("选中原因", "Why it was selected"),
    "open": ("打开", "open"),
    "older": ("更早", "older"),
    "case": ("案件", "Case"),
    "decide": ("处理结果", "Record the result"),
    "result": ("结果", "result"),
    "reason_zh": ("原因（中文）", "reason (Chinese)"),
    "reason_en": ("原因（英文）", "reason (English)"),
    "submit": ("提交", "Submit"),
    "officer": ("经办关员", "officer"),
    "history": ("包裹全程记录", "Parcel history"),
    "decisions": ("判定记录", "Decisions"),
    "officer_results": ("关员处理记录", "Officer results"),
    "tax_bills": ("电子税单", "Tax bills"),
    "masked_note": ("个人信息已脱敏。", "Personal data is masked."),
    "unmasked_note": (
        "个人信息以明文显示，本次查看已记录审计。",
        "Personal data shown in clear; this read is audited.",
    ),
    "unmask": ("查看明文", "Show in clear"),
    "purpose": ("查看目的（必填）", "purpose (required)"),
    "kind": ("类别", "kind"),
    "business_key": ("业务主键", "business key"),
    "fields": ("字段", "fields"),
    "lines": ("表体", "lines"),
    "by": ("按", "by"),
    "query": ("查询", "Search"),
    "no_result": ("没有您可查看的记录", "no record that you may read"),
    "recipient": ("接收方", "recipient"),
    "created_at": ("生成时间", "created at"),
    "entries": ("条目", "entries"),
    "received_at": ("接收时间", "received at"),
    "sender": ("发送方", "sender"),
    "window_note": ("（最近 {n} 条回执内）", "(among your latest {n} receipts)"),
    "msg_window_note": ("（平台最近 {n} 条报文内）", "(among the platform's latest {n} messages)"),
    "tax_no": ("税单编号", "tax bill number"),
    "customs_tax": ("关税", "customs duty"),
    "vat": ("增值税", "VAT"),
    "consumption_tax": ("消费税", "consumption tax"),
    "net_due": ("应缴（扣除调整后）", "due (after adjustments)"),
    "bill_status": ("税单状态", "bill status"),
    "buyer_id": ("订购人身份证号码", "buyer's ID number"),
    "year": ("年度", "year"),
    "used": ("已用额度", "used"),
    "remaining": ("剩余额度", "remaining"),
    "annual_limit": ("年度限值", "annual limit"),
    "quota_note": (
        "身份证号码不会被保存或记录；额度按其密钥化摘要查询。",
        "The ID number is neither stored nor logged; the quota is looked up by its keyed hash.",
    ),
    "result_recorded": ("已记录处理结果", "Result recorded"),
    "receipts_sent": ("已生成回执", "receipts written"),
    "latest_status": ("当前状态", "current status"),
    "no_held": ("该清单不在待处理状态", "this list is not waiting for a result"),
    "cny": ("元", "CNY"),
    "seconds": ("秒", "s"),
    "docs": ("单证", "documents"),
    "receipt": ("回执", "receipt"),
    "chart_volumes": ("报文量", "messages"),
    "chart_lists": ("清单判定", "list decisions"),
    "chart_rejections": ("退单（按规则/代码）", "refusals (by rule / code)"),
    "chart_latency": ("判定时延分布", "decision latency"),
}

STATUS_WORDS: dict[int, tuple[str, str]] = {
    100: ("退单", "refused"),
    120: ("入库", "accepted"),
    300: ("人工审核", "manual review"),
    399: ("审结", "concluded"),
    500: ("查验", "inspection"),
    501: ("扣留移送通关", "detained, to clearance"),
    502: ("扣留移送缉私", "detained, to anti-smuggling"),
    503: ("扣留移送法规", "detained, to legal"),
    599: ("其它扣留", "detained, other"),
    700: ("退运", "returned abroad"),
    800: ("放行", "released"),
    899: ("结关", "closed"),
    2: ("等待", "waiting"),
}

RESULT_WORDS: dict[str, tuple[str, str]] = {
    "release": ("放行", "release"),
    "refuse": ("退单", "refuse"),
    "pass": ("查验通过", "pass"),
    "detain-clearance": ("扣留移送通关", "detain — to clearance"),
    "detain-smuggling": ("扣留移送缉私", "detain — to anti-smuggling"),
    "detain-legal": ("扣留移送法规", "detain — to legal"),
    "detain-other": ("其它扣留", "detain — other"),
    "return": ("退运", "return abroad"),
}

BILL_STATUS: dict[int, tuple[str, str]] = {
    1: ("已生成", "issued"),
    2: ("已汇总", "summarised"),
    3: ("作废", "void"),
}

LATENCY_LABELS: tuple[tuple[str, str], ...] = (
    ("<0.1秒", "<0.1 s"),
    ("0.1–1秒", "0.1–1 s"),
    ("1–10秒", "1–10 s"),
    ("10–60秒", "10–60 s"),
    ("1–10分", "1–10 min"),
    ("10–60分", "10–60 min"),
    ("1–24时", "1–24 h"),
    (">24时", ">24 h"),
)


def pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **fmt)`` for templates: the word in ``lang``, or the key itself when it is missing."""

    def t(key: str, **fmt: object) -> str:
        pair = WORDS.get(key)
        text = pick(pair, lang) if pair else key
        return text.format(**fmt) if fmt else text

    return t


def status_word(status: int | None, lang: str) -> str:
    if status is None:
        return ""
    pair = STATUS_WORDS.get(int(status))
    return f"{status} {pick(pair, lang)}" if pair else str(status)


def choose(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    """?lang= wins, then the cookie, then the browser's first language; Chinese by default."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGS:
            return candidate
    if accept_language and accept_language.strip().lower().startswith("en"):
        return "en"
    return DEFAULT_LANG
