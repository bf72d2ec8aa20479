"""Hostile bodies and parameters: each refused with a 4xx, quickly, with reasons, and nothing stored.

An entity bomb, an external entity, 10,000-deep nesting, a body far over the size limit, encodings that
lie, a DxpMsg whose Data is not Base64, JSON of the wrong shapes, NUL bytes, 65-bit ids.  "Nothing stored"
is checked over every table of the schema (row counts before and after), so a refusal that wrote half a
message anywhere would show.  The oversized body is also sent in chunks without a Content-Length straight to
the ASGI app, to show that reading stops at the limit rather than after the whole body has arrived.
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from tests.integration.service.conftest import TEST_SECRETS, database_url

from cbec.service.app import create_app
from cbec.service.cast import Cast, file_cast
from cbec.service.context import ServiceSettings
from cbec.store import connect
from cbec.store.schema import metadata

PLATFORM = "3301960001"
LIMIT = 16 * 1024 * 1024  # ServiceSettings.max_body
# seconds: a guard against inputs that blow up (entity expansion, deep nesting, huge numbers would take
# minutes or exhaust memory), not a performance target: a refusal on a loaded CI VM once took 1.13 s
FAST = 5.0
CEB = "http://www.chinaport.gov.cn/ceb"
DXP = "http://www.chinaport.gov.cn/dxp"


def _run_apart(coroutine: Any) -> None:
    """Run a coroutine on its own thread and loop: the browser tests may leave this thread's loop running."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the test
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


class Hostile:
    def __init__(self, engine: Engine, cast: Cast, app: FastAPI, client: TestClient) -> None:
        self.engine = engine
        self.cast = cast
        self.app = app
        self.client = client
        self.key = cast.keys[PLATFORM]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables
            }

    def post(self, body: bytes, content_type: str = "application/xml", **headers: str) -> Any:
        return self.client.post(
            "/v1/messages",
            content=body,
            headers={"X-API-Key": self.key, "Content-Type": content_type, **headers},
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """On both stores: PostgreSQL is where NUL bytes and over-long text would fail (SQLite stores them)."""
    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "postgresql":
            for name, value in TEST_SECRETS.items():
                mp.setenv(name, value)
        engine = connect(database_url(request.param, root))
        cast = file_cast(engine, root / "keys")
        app = create_app(engine, settings=ServiceSettings(clearing=False, webhooks=False))
        with TestClient(app) as client:
            yield Hostile(engine, cast, app, client)
        engine.dispose()


def _refused(hostile: Hostile, send: Any, status: int | tuple[int, ...] = 400) -> dict[str, Any]:
    """Send, and check: the expected 4xx, fast, reasons in both languages, no row added anywhere."""
    before = hostile.counts()
    started = time.perf_counter()
    r = send()
    elapsed = time.perf_counter() - started
    wanted = status if isinstance(status, tuple) else (status,)
    assert r.status_code in wanted, r.text[:2000]
    assert elapsed < FAST, f"took {elapsed:.2f}s"
    err = r.json()["error"]
    assert err["reason_zh"] and err["reason_en"], err
    assert hostile.counts() == before
    return dict(r.json())


def _order(inner: str = "<ceb:orderNo>x</ceb:orderNo>") -> str:
    return f'<ceb:CEB311Message xmlns:ceb="{CEB}" guid="1" version="1.0"><ceb:Order>{inner}</ceb:Order>'


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" if i > 1 else "&lol;" for _ in range(10))}">'
        for i in range(1, 10)
    )
    + f"]>{_order('<ceb:orderNo>&lol9;</ceb:orderNo>')}</ceb:CEB311Message>"
).encode()

XXE = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    + _order("<ceb:orderNo>&xxe;</ceb:orderNo>")
    + "</ceb:CEB311Message>"
).encode()

XXE_PARAMETER = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
    + _order()
    + "</ceb:CEB311Message>"
).encode()


def test_billion_laughs(hostile: Hostile) -> None:
    body = _refused(hostile, lambda: hostile.post(LAUGHS))
    assert body["error"]["returnStatus"] == "-1"
    assert "lollollol" not in str(body)


@pytest.mark.parametrize("doc", [XXE, XXE_PARAMETER], ids=["general-entity", "parameter-entity"])
def test_external_entities(hostile: Hostile, doc: bytes) -> None:
    body = _refused(hostile, lambda: hostile.post(doc))
    assert "root:" not in str(body)  # /etc/passwd was not read into the answer or the receipt
    assert body["error"]["findings"][0]["code"] == "xml.dtd_forbidden"


def test_deep_xml(hostile: Hostile) -> None:
    deep = (_order() + "<a>" * 10_000 + "</a>" * 10_000 + "</ceb:Order></ceb:CEB311Message>").encode()
    body = _refused(hostile, lambda: hostile.post(deep))
    assert body["error"]["field"]


def test_deep_json(hostile: Hostile) -> None:
    deep = b'{"messageType": "CEB311Message", "documents": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    body = _refused(hostile, lambda: hostile.post(deep, "application/json"))
    assert body["error"]["field"] == "$"


def test_declared_oversized_body_refused_before_reading(hostile: Hostile) -> None:
    big = b"<" + b"x" * (20 * 1024 * 1024)
    body = _refused(hostile, lambda: hostile.post(big), status=413)
    assert body["error"]["code"] == "too-large"


def test_streamed_oversized_body_stops_at_the_limit(hostile: Hostile) -> None:
    """20 MB in 1 MB chunks, no Content-Length: the app stops asking for chunks once past the limit."""
    chunk, total = 1024 * 1024, 20
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > total:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"x" * chunk, "more_body": asked < total}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/xml"),
            (b"x-api-key", hostile.key.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    before = hostile.counts()
    _run_apart(hostile.app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert asked <= LIMIT // chunk + 1 < total  # read up to the limit, not the whole 20 MB
    assert hostile.counts() == before


def test_gbk_declared_body_with_bytes_that_are_not_gbk(hostile: Hostile) -> None:
    bad = (
        b'<?xml version="1.0" encoding="GBK"?>' + _order().encode() + b"\x81\x20\xff\xfe</ceb:CEB311Message>"
    )
    body = _refused(hostile, lambda: hostile.post(bad))
    assert body["error"]["findings"][0]["code"] == "xml.encoding"


def test_gbk_declared_body_is_read_and_quoted_back_in_chinese(hostile: Hostile) -> None:
    """Tolerated encoding, refused for its content: the CEB900 quotes the original text correctly."""
    text = (
        '<?xml version="1.0" encoding="GBK"?><ceb:CEB999Message xmlns:ceb="'
        + CEB
        + '">中文</ceb:CEB999Message>'
    )
    body = _refused(hostile, lambda: hostile.post(text.encode("gbk")))
    assert "中文" in body["ceb900"]


@pytest.mark.parametrize("codec", ["zlib", "rot13", "base64", "undefined", "utf-32-be"])
def test_declared_encoding_that_is_no_text_encoding(hostile: Hostile, codec: str) -> None:
    doc = f'<?xml version="1.0" encoding="{codec}"?>'.encode() + _order().encode() + b"</ceb:CEB311Message>"
    body = _refused(hostile, lambda: hostile.post(doc))
    assert body["error"]["findings"][0]["code"] == "xml.encoding"


def _dxp(data: str) -> bytes:
    return (
        f'<DxpMsg xmlns="{DXP}" ver="1.0"><TransInfo><CopMsgId>1</CopMsgId><SenderId>DXPENT0000000001'
        "</SenderId><ReceiverIds><ReceiverId>DXPEDCCEB0000002</ReceiverId></ReceiverIds>"
        "<CreatTime>2026-01-01T00:00:00</CreatTime><MsgType>CEB311Message</MsgType></TransInfo>"
        f"<Data>{data}</Data></DxpMsg>"
    ).encode()


@pytest.mark.parametrize(
    "data",
    [
        "!!!this is not base64***",
        "QUJD=x",  # padding in the middle
        base64.b64encode(LAUGHS).decode(),
        base64.b64encode(XXE).decode(),
        base64.b64encode(b'<?xml version="1.0" encoding="zlib"?><x/>').decode(),
        base64.b64encode(b"\xff\xfe\x00\x00garbage").decode(),
        "",
    ],
    ids=[
        "not-base64",
        "bad-padding",
        "laughs-inside",
        "xxe-inside",
        "zlib-inside",
        "garbage-inside",
        "empty",
    ],
)
def test_dxp_envelope_with_bad_data(hostile: Hostile, data: str) -> None:
    body = _refused(hostile, lambda: hostile.post(_dxp(data)))
    assert body["error"]["findings"]
    assert body["error"]["field"]


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe\xfa not utf-8",
        b"[1, 2, 3]",
        b'{"messageType": 5}',
        b'{"messageType": "CEB311\\u0000Message", "documents": []}',
        b'{"messageType": "CEB311Message", "documents": "x"}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {"orderNo": "a\\u0000b"}}]}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {"orderNo": {"a": 1}}}]}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {"orderNo": "\\ud800"}}]}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {"goodsValue": NaN}}]}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {}, "lines": [1]}]}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {}}], "baseSubscribe": 5}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {}}], "baseTransfer": []}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {}}], "guid": "\\u0001"}',
        b'{"messageType": "CEB311Message", "documents": [{"head": {"orderNo": ' + b"9" * 5000 + b"}}]}",
    ],
)
def test_json_of_the_wrong_shape(hostile: Hostile, payload: bytes) -> None:
    body = _refused(hostile, lambda: hostile.post(payload, "application/json"))
    assert body["error"]["field"], body


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/parcels", {"orderNo": "a\x00b"}),
        ("/v1/parcels", {"guid": "x", "purpose": "\x00"}),
        ("/v1/receipts", {"after": str(2**64)}),
        ("/v1/receipts/18446744073709551616", {}),
        ("/v1/receipts/-1", {}),
        ("/v1/subscriptions/99999999999999999999999/dead-letters", {}),
    ],
)
def test_hostile_parameters(hostile: Hostile, path: str, params: dict[str, str]) -> None:
    body = _refused(
        hostile, lambda: hostile.client.get(path, params=params, headers={"X-API-Key": hostile.key}), 422
    )
    assert body["error"]["field"]


@pytest.mark.parametrize(
    "payload",
    [
        {"buyerIdNumber": "²10105194912310021", "items": [{"hs10": "3304990099", "price": "1"}]},
        {"buyerIdNumber": "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "items": [{"hs10": "3304990099", "price": "1"}]},
        {"buyerIdNumber": "11010519491231002X", "items": [{"hs10": "٣٣٠٤٩٩٠٠٩٩", "price": "1"}]},
        {"buyerIdNumber": "11010519491231002X", "items": [{"hs10": "3304990099", "price": "1e999999"}]},
        {"buyerIdNumber": "11010519491231002X", "items": [{"hs10": "3304990099", "price": "\x00"}]},
    ],
)
def test_hostile_precheck(hostile: Hostile, payload: dict[str, Any]) -> None:
    _refused(
        hostile,
        lambda: hostile.client.post(
            "/v1/checkout/precheck", json=payload, headers={"X-API-Key": hostile.key}
        ),
        422,
    )


@pytest.mark.parametrize(
    "url",
    ["https://", "http://\x00evil", "https://host:99999/x", "https://exa mple.cn/", "javascript:alert(1)"],
)
def test_unusable_webhook_url(hostile: Hostile, url: str) -> None:
    body = _refused(
        hostile,
        lambda: hostile.client.post(
            "/v1/subscriptions", json={"url": url}, headers={"X-API-Key": hostile.key}
        ),
        422,
    )
    assert body["error"]["field"] == "body.url"


@pytest.mark.parametrize("length", ["²", "1" * 5000, "-5", "abc"])
def test_odd_content_length_headers(hostile: Hostile, length: str) -> None:
    """Only the ASGI scope is used here (an HTTP server would refuse some of these before the app)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"<x/>", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/xml"),
            (b"content-length", length.encode("latin-1")),
            (b"x-api-key", hostile.key.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    _run_apart(hostile.app(scope, receive, send))  # type: ignore[arg-type]
    status = next(m for m in sent if m["type"] == "http.response.start")["status"]
    assert 400 <= status < 500


@pytest.mark.parametrize("field", ["dxpId", "copCode"])
def test_over_long_envelope_field(hostile: Hostile, spec_dir: Path, field: str) -> None:
    """The decoder lets an over-long BaseTransfer field through; it must not reach a sized column."""
    sample = (spec_dir / "samples" / "import" / "CEB311Message.xml").read_bytes()
    long = re.sub(rf"<ceb:{field}>[^<]*<".encode(), f"<ceb:{field}>{'D' * 200}<".encode(), sample, count=1)
    assert long != sample
    body = _refused(hostile, lambda: hostile.post(long))
    assert field in {f["field"] for f in body["error"]["findings"]}
