"""A rights decision as a value: allowed, or refused with the HTTP status, the field at fault and the reason.

Rights checks never raise for a refusal.  A refusal is an ordinary answer that the HTTP layer turns into a
response, the console into a message and the tests into an assertion, so it is data: the status (401 when
the credential itself is no good, 403 when a known principal asks for something it may not do), a stable
machine-readable ``code``, the document and field at fault, and the reason in 中文 and English.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

Status = Literal[200, 401, 403]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one rights check (see the module docstring)."""

    allowed: bool
    status: Status
    code: str
    reason_zh: str = ""
    reason_en: str = ""
    field: str | None = None
    document: int | None = None  # index (from 0) of the first document that failed, when one did

    @property
    def reason(self) -> str:
        """Both languages on one line, for logs and error messages."""
        return f"{self.reason_zh} / {self.reason_en}" if self.reason_zh else ""

    def at_document(self, index: int) -> Decision:
        return replace(self, document=index)

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "status": self.status,
            "code": self.code,
            "field": self.field,
            "document": self.document,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }


ALLOWED = Decision(allowed=True, status=200, code="ok")


def unauthenticated(code: str, zh: str, en: str) -> Decision:
    """401: the credential is unknown, malformed, expired or revoked; nothing else was looked at."""
    return Decision(allowed=False, status=401, code=code, reason_zh=zh, reason_en=en)


def forbidden(code: str, zh: str, en: str, *, field: str | None = None) -> Decision:
    """403: the principal is known, but may not do this."""
    return Decision(allowed=False, status=403, code=code, reason_zh=zh, reason_en=en, field=field)
