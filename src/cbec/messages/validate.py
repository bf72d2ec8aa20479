"""Check a message as the e-port would before it reaches customs: XSD, then the field rules.

Returns a report that reads like a CEB900 receipt: accepted or refused, and every error and warning with its
path.  XSD validation runs when the official XSDs are reachable (see :mod:`cbec.messages.xsd`); the field
rules (derived from the same XSDs, plus code tables) always run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cbec.messages.decode import DecodedMessage, decode
from cbec.messages.findings import Finding
from cbec.messages.format_receipt import return_info, return_status
from cbec.messages.safe_xml import XmlRejected, parse_untrusted
from cbec.messages.xsd import validate_tree, xsd_available


@dataclass
class ValidationReport:
    message_type: str
    accepted: bool
    xsd_checked: bool
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def receipt_fields(self) -> dict[str, str]:
        """The MessageReturn fields this report would produce (empty status when accepted)."""
        if self.accepted:
            return {"returnStatus": "", "returnInfo": "format check passed / 格式校验通过"}
        return {"returnStatus": return_status(self.errors), "returnInfo": return_info(self.errors)}


def validate(data: bytes, *, strict: bool = False) -> ValidationReport:
    """``strict``: every XSD violation is an error (the writer's standard); default reads like the e-port."""
    decoded: DecodedMessage = decode(data, strict_codes=True)
    errors = list(decoded.errors)
    warnings = list(decoded.warnings)
    checked = False
    if decoded.spec is not None and xsd_available() and decoded.envelope is None:
        try:
            root = parse_untrusted(data).root
        except XmlRejected:
            root = None
        if root is not None:
            checked = True
            xsd_findings = validate_tree(root, decoded.spec.family)
            # The reader already tolerated some deviations (order, prefixes); the XSD's verdict on those is a
            # warning, since the e-port's tolerant front would accept them too.  Field errors stay errors.
            if errors or strict:
                errors.extend(xsd_findings)
            else:
                warnings.extend(
                    Finding("warning", f.code, f.path, f.field, f.message_zh, f.message_en, f.dxp_code)
                    for f in xsd_findings
                )
    return ValidationReport(
        message_type=decoded.message_type,
        accepted=not errors,
        xsd_checked=checked,
        errors=errors,
        warnings=warnings,
    )
