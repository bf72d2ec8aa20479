"""Errors and warnings found while reading or checking a message.

A finding carries the path of the element, the field, a stable code, and a message in Chinese and English, so
that the same object can be shown to an enterprise developer, serialised to JSON, or folded into the CEB900
format receipt (whose ``returnStatus`` is the DXP code: 0001 malformed, 0002 schema, …) or into a business
receipt with the spec's negative code where one exists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# code -> (DXP platform code, Chinese template, English template).  Templates take str.format(**details).
CATALOGUE: dict[str, tuple[str, str, str]] = {
    # structure and security: the message cannot be used at all
    "xml.malformed": (
        "0001",
        "报文不是格式正确的XML：{detail}",
        "The message is not well-formed XML: {detail}",
    ),
    "xml.too_large": (
        "0001",
        "报文大小{size}字节超过上限{limit}字节",
        "The message is {size} bytes, over the limit of {limit} bytes",
    ),
    "xml.too_deep": (
        "0001",
        "报文嵌套层数超过上限{limit}",
        "The message nests elements deeper than the limit of {limit}",
    ),
    "xml.dtd_forbidden": (
        "0001",
        "报文不得包含DTD或实体声明",
        "The message must not contain a DTD or entity declarations",
    ),
    "xml.encoding": (
        "0001",
        "报文字符编码无法识别或与声明不符：{detail}",
        "The message's character encoding is unknown or does not match its declaration: {detail}",
    ),
    "xml.empty": ("0001", "报文为空", "The message is empty"),
    "xml.schema": (
        "0002",
        "报文不符合XSD：{detail}",
        "The message does not validate against the XSD: {detail}",
    ),
    "root.unknown": (
        "0002",
        "未知的报文类型（根节点）{root}",
        "Unknown message type (root element) {root}",
    ),
    "root.not_message": (
        "0002",
        "根节点{root}不是CEB业务报文",
        "The root element {root} is not a CEB business message",
    ),
    "root.attribute_missing": (
        "0002",
        "根节点缺少属性{field}",
        "The root element lacks the attribute {field}",
    ),
    "document.missing": (
        "0002",
        "报文缺少业务单证{element}",
        "The message contains no {element} document",
    ),
    "document.too_many": (
        "0002",
        "单证{element}数量{count}超过上限{limit}",
        "{count} {element} documents exceed the limit of {limit}",
    ),
    "document.head_missing": ("0002", "单证缺少表头{element}", "The document lacks its head {element}"),
    "document.lines_missing": (
        "0002",
        "单证缺少表体{element}",
        "The document lacks its lines {element}",
    ),
    "document.too_many_lines": (
        "0002",
        "表体{element}数量{count}超过上限{limit}",
        "{count} {element} lines exceed the limit of {limit}",
    ),
    "transfer.missing": (
        "0002",
        "报文缺少传输信息BaseTransfer",
        "The message lacks its BaseTransfer block",
    ),
    "signature.missing": (
        "0002",
        "该报文必须加签（ds:Signature）",
        "This message type must carry a signature (ds:Signature)",
    ),
    # field checks
    "field.required": ("0002", "必填项{field}为空或缺失", "The required field {field} is missing or empty"),
    "field.length": (
        "0002",
        "{field}长度{actual}不符合要求（{expected}）",
        "{field} has length {actual}, expected {expected}",
    ),
    "field.decimal": (
        "0002",
        "{field}的值“{value}”不是合法数字（{expected}）",
        "{field} value '{value}' is not a valid number ({expected})",
    ),
    "field.integer": (
        "0002",
        "{field}的值“{value}”不是合法整数（{expected}）",
        "{field} value '{value}' is not a valid integer ({expected})",
    ),
    "field.time": (
        "0002",
        "{field}的值“{value}”不是合法时间（格式{expected}）",
        "{field} value '{value}' is not a valid time (format {expected})",
    ),
    "field.fixed": (
        "0002",
        "{field}的值“{value}”不符合规定值“{expected}”",
        "{field} value '{value}' differs from the value the XSD fixes, '{expected}'",
    ),
    "field.code": (
        "0002",
        "{field}的值“{value}”不在代码表{table}中",
        "{field} value '{value}' is not in the code table {table}",
    ),
    "field.nested": (
        "0002",
        "{field}应为简单值，却包含子元素",
        "{field} should hold a simple value but contains child elements",
    ),
    # tolerated deviations (warnings)
    "tolerated.code": (
        "",
        "{field}的值“{value}”不在本系统的{table}代码表中（该表不完整），予以接受",
        "{field} value '{value}' is not in cbec's {table} code table (a partial table); accepted",
    ),
    "tolerated.namespace": (
        "",
        "根节点命名空间为“{namespace}”，应为CEB命名空间",
        "The root namespace is '{namespace}', expected the CEB namespace",
    ),
    "tolerated.root_name": (
        "",
        "根节点名称{root}不规范，按{canonical}处理",
        "Non-standard root name {root}; read as {canonical}",
    ),
    "tolerated.version": (
        "",
        "报文版本号“{value}”不规范，按“{canonical}”处理",
        "Non-standard version '{value}'; read as '{canonical}'",
    ),
    "tolerated.guid": (
        "",
        "guid“{value}”不是36位大写格式",
        "guid '{value}' is not a 36-character upper-case identifier",
    ),
    "tolerated.order": (
        "",
        "元素{element}的顺序与XSD不一致",
        "Element {element} is out of the order the XSD gives",
    ),
    "tolerated.unknown_element": ("", "忽略未知元素{element}", "Ignored unknown element {element}"),
    "tolerated.duplicate": (
        "",
        "元素{element}重复出现，只采用第一个",
        "Element {element} appears more than once; the first is used",
    ),
    "tolerated.whitespace": (
        "",
        "{field}的值前后有空白，已去除",
        "{field} had leading or trailing whitespace, which was removed",
    ),
    "tolerated.encoding": (
        "",
        "报文声明编码{declared}，按{used}解码",
        "The message declares encoding {declared}; decoded as {used}",
    ),
    "tolerated.transfer_missing": (
        "",
        "报文缺少BaseTransfer，发送方按接入身份确定",
        "The message lacks BaseTransfer; the sender is taken from the connection",
    ),
    "tolerated.signature_namespace": (
        "",
        "签名元素未使用XML-DSig命名空间",
        "The Signature element is not in the XML-DSig namespace",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning, with everything needed to explain it."""

    severity: Severity
    code: str
    path: str
    field: str | None
    message_zh: str
    message_en: str
    dxp_code: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.path}: {self.message_en} / {self.message_zh}"


def finding(
    code: str, path: str, *, field: str | None = None, severity: Severity | None = None, **details: object
) -> Finding:
    """Build a finding from the catalogue; tolerated.* codes default to warnings, the rest to errors."""
    dxp, zh, en = CATALOGUE[code]
    values = {"field": field, **details}
    sev: Severity = severity or ("warning" if code.startswith("tolerated.") else "error")
    return Finding(
        severity=sev,
        code=code,
        path=path,
        field=field,
        message_zh=zh.format(**values),
        message_en=en.format(**values),
        dxp_code=dxp,
    )
