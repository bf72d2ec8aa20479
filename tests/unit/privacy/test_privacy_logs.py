"""Log redaction: messages, arguments, exceptions and stacks, from any logger and for any handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from cbec.privacy.logs import RedactingFilter, install_log_redaction

ID, PHONE = "11010519491231002X", "13812345678"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("cbec.test.privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield out
    logger.removeHandler(handler)


def test_installed_redaction_covers_messages_arguments_and_exceptions(stream: io.StringIO) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("cbec.test.privacy")
    log.info("buyer %s phone %s", ID, PHONE)
    log.warning(f"GET /documents?buyerIdNumber={ID}")
    try:
        raise ValueError(f"bad element <buyerTelephone>{PHONE}</buyerTelephone>")
    except ValueError:
        log.exception("decoding failed for %s", ID)
    log.debug("with stack", stack_info=True, extra={"note": "ok"})
    text = stream.getvalue()
    assert ID not in text and PHONE not in text
    assert "110***********002X" in text and "138****5678" in text
    assert "ValueError: bad element" in text  # the traceback is still there, redacted


def test_filter_for_one_handler() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "payer %s", (PHONE,), None)
    handler.handle(record)
    assert PHONE not in out.getvalue() and "138****5678" in out.getvalue()
