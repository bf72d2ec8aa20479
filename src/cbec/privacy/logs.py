"""Log redaction: no ID number or phone number reaches a log, whoever wrote the log line.

Log lines come from cbec, from uvicorn (request lines with query strings), SQLAlchemy (statements and
parameters when echoing) and exceptions (lxml quoting a piece of a message).  None of them knows which
values are personal, so redaction goes by shape (:func:`cbec.privacy.masking.redact_all`: ID numbers and
phones wherever they are, names and addresses where XML or ``"field": "value"`` pairs name them) and is
applied where every record is made: :func:`install_log_redaction` wraps the log-record factory, so every
handler — including ones configured later, by uvicorn or by a test's log capture — only ever sees redacted
records.
:class:`RedactingFilter` does the same for a single handler, where changing the factory is not wanted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from cbec.privacy.masking import redact_all

_lock = threading.Lock()
_installed = False


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: its message (with the arguments merged in), exception and stack text."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is logging's business to report; redact what is there
        message = str(record.msg)
    redacted = redact_all(message)
    if redacted != message or record.args:
        record.msg, record.args = redacted, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_all(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_all(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A filter for one handler (or logger) that redacts instead of dropping."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_log_redaction() -> None:
    """Redact every log record of this process from now on (idempotent; the CLI and the service call it
    first thing at start)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True
