"""Strict writer for whole columns: a frame of documents in, CEB messages (≤ 100 documents each) out.

The record encoder (:mod:`cbec.messages.encode`) builds an element tree per message, which costs a few
microseconds per field in Python.  Clearance answers millions of documents with receipts, so receipts are
written here as Polars string expressions instead: each field is formatted (decimals in plain notation,
times in the spec's formats), XML-escaped and wrapped in its element, per column.  Strictness is kept: the
values go through the same field checks as the reader (:func:`cbec.messages.fieldcheck.check_entity`)
before anything is written, and a problem raises :class:`EncodeError`.  The conformance tests validate the
output against the official XSDs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from cbec.messages.encode import EncodeError
from cbec.messages.fieldcheck import check_entity
from cbec.messages.findings import finding
from cbec.messages.spec import CEB_NS, DS_NS, Entity, Field, message_spec

if TYPE_CHECKING:
    from cbec.messages.signature import SigningIdentity

MAX_DOCUMENTS = 100
_DECIMAL_TRAILING = r"(\.\d*?)0+$"


def _text(f: Field, dtype: pl.DataType) -> pl.Expr:
    """The spec's text form of a column (null stays null)."""
    c = pl.col(f.name)
    if isinstance(dtype, pl.Datetime | pl.Date):
        pattern = {"ts17": "%Y%m%d%H%M%S%.3f", "ts14": "%Y%m%d%H%M%S", "date8": "%Y%m%d"}.get(
            f.format or "", "%Y%m%d%H%M%S"
        )
        text = c.dt.strftime(pattern)
        if f.format == "ts17":
            text = text.str.replace(".", "", literal=True)
        return text
    if isinstance(dtype, pl.Decimal) or dtype in (pl.Float64, pl.Float32):
        text = c.cast(pl.String)
        return text.str.replace(_DECIMAL_TRAILING, "$1").str.replace(r"\.$", "")
    return c.cast(pl.String)


def _escape(e: pl.Expr) -> pl.Expr:
    return (
        e.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def entity_xml(frame: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """Add ``_xml``: each row as one ``<ceb:Entity>…</ceb:Entity>`` element (fields in XSD order)."""
    texts = {f.name: _text(f, frame.schema[f.name]) for f in entity.fields if f.name in frame.columns}
    as_text = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int32).alias("_msg"),
        pl.lit(0, pl.Int32).alias("_doc"),
        pl.lit(0, pl.Int32).alias("_line"),
        *[
            (texts[f.name] if f.name in texts else pl.lit(None, pl.String)).alias(f.name)
            for f in entity.fields
        ],
    )
    _typed, problems = check_entity(as_text, entity)
    errors = problems.filter(~pl.col("code").str.starts_with("tolerated."))
    if errors.height:
        raise EncodeError(
            [
                finding(
                    r["code"],
                    f"/{entity.name}[{r['_msg'] + 1}]/{r['field']}",
                    field=r["field"],
                    value=r["value"],
                    expected=r["expected"],
                    table=r["table"],
                    actual=len(r["value"] or ""),
                )
                for r in errors.head(20).iter_rows(named=True)
            ]
        )
    # trimming and escaping cost a pass each: only for the columns that have something to trim or escape
    present = [f.name for f in entity.fields if f.name in texts]
    needs = as_text.select(pl.col(present).str.contains(r"[&<>]|^\s|\s$").any()).row(0) if present else ()
    parts = []
    for name, special in zip(present, needs, strict=True):
        col = _escape(pl.col(name).str.strip_chars()) if special else pl.col(name)
        element = pl.concat_str([pl.lit(f"<ceb:{name}>"), col, pl.lit(f"</ceb:{name}>")])
        parts.append(pl.when(col.str.len_bytes() > 0).then(element).otherwise(pl.lit("")))
    xml = pl.concat_str([pl.lit(f"<ceb:{entity.name}>"), *parts, pl.lit(f"</ceb:{entity.name}>")])
    return frame.with_columns(as_text.select(xml.alias("_xml")).to_series())


def encode_receipts(message_type: str, frame: pl.DataFrame, *, group_by: Sequence[str] = ()) -> list[bytes]:
    """Encode a flat receipt type (312, 412, 512, 622, 514 …) for every row of ``frame``.

    Rows are packed ≤ 100 per message, and never mixed across the values of ``group_by`` (e.g. the
    recipient), so each message can be delivered to one party.
    """
    spec = message_spec(message_type)
    if spec.wrapped or spec.kind != "receipt":
        raise ValueError(f"{message_type} is not a flat receipt message")
    if frame.height == 0:
        return []
    rows = entity_xml(frame, spec.head)
    keys = list(group_by)
    chunked = rows.with_columns(
        (
            pl.int_range(pl.len()).over(keys) // MAX_DOCUMENTS
            if keys
            else pl.int_range(pl.len()) // MAX_DOCUMENTS
        ).alias("_chunk")
    )
    bodies = chunked.group_by([*keys, "_chunk"], maintain_order=True).agg(pl.col("_xml").str.join(""))
    out = []
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<ceb:{spec.root} xmlns:ceb="{CEB_NS}" '
    for body in bodies["_xml"].to_list():
        guid = str(uuid.uuid4()).upper()
        out.append(f'{head}guid="{guid}" version="1.0">{body}</ceb:{spec.root}>'.encode())
    return out


def encode_receipts_by(message_type: str, frame: pl.DataFrame, key: str) -> dict[str, list[bytes]]:
    """Like :func:`encode_receipts`, returning the messages per value of ``key`` (e.g. recipient)."""
    out: dict[str, list[bytes]] = {}
    for (value,), part in frame.group_by([key], maintain_order=True):
        out[str(value)] = encode_receipts(message_type, part)
    return out


def _transfer_xml(transfer: dict[str, str | None]) -> str:
    from xml.sax.saxutils import escape

    from cbec.messages.spec import catalogue

    entity = catalogue().envelope["BaseTransfer"]
    missing = [f.name for f in entity.fields if f.required and not transfer.get(f.name)]
    if missing:
        raise EncodeError([finding("field.required", f"/BaseTransfer/{m}", field=m) for m in missing])
    inner = "".join(
        f"<ceb:{f.name}>{escape(str(transfer[f.name]))}</ceb:{f.name}>"
        for f in entity.fields
        if transfer.get(f.name)
    )
    return f"<ceb:BaseTransfer>{inner}</ceb:BaseTransfer>"


def encode_documents(
    message_type: str,
    heads: pl.DataFrame,
    lines: pl.DataFrame | None = None,
    *,
    transfers: dict[int, dict[str, str | None]] | None = None,
    signer: object | None = None,
    guids: Mapping[int, str] | None = None,
) -> list[tuple[int, bytes]]:
    """Encode data messages from columns: ``heads`` has ``_msg`` (which message) and ``_doc`` (document
    id, unique per message), ``lines`` the same keys; ``transfers`` gives each message's BaseTransfer.

    Returns ``(_msg, bytes)`` per message.  Messages the XSD requires to be signed need ``signer`` (a
    :class:`cbec.messages.signature.SigningIdentity`).  ``guids`` gives a message its root ``guid``
    (default: a random UUID), for writers that must be reproducible.
    """
    from cbec.messages.signature import SigningIdentity as Identity

    spec = message_spec(message_type)
    if spec.kind == "data" and transfers is None:
        raise EncodeError([finding("transfer.missing", f"/{spec.root}")])
    if spec.signature_required and signer is None:
        raise EncodeError([finding("signature.missing", f"/{spec.root}")])
    sizes = heads.group_by("_msg").len()
    limit = spec.documents_max or MAX_DOCUMENTS
    if sizes.height and sizes["len"].max() > limit:  # type: ignore[operator]
        raise EncodeError(
            [
                finding(
                    "document.too_many",
                    f"/{spec.root}",
                    element=spec.document,
                    count=sizes["len"].max(),
                    limit=limit,
                )
            ]
        )
    head_xml = entity_xml(heads.drop("_msg", "_doc"), spec.head).select(
        heads["_msg"], heads["_doc"], pl.col("_xml").alias("_head")
    )
    if spec.wrapped:
        body = head_xml
        if spec.lines is not None:
            if lines is None or lines.height == 0:
                lines_xml = pl.DataFrame(
                    schema={"_msg": heads.schema["_msg"], "_doc": heads.schema["_doc"], "_lines": pl.String()}
                )
            else:
                lx = entity_xml(lines.drop("_msg", "_doc"), spec.lines).select(
                    lines["_msg"], lines["_doc"], pl.col("_xml")
                )
                lines_xml = lx.group_by("_msg", "_doc", maintain_order=True).agg(
                    pl.col("_xml").str.join("").alias("_lines")
                )
            body = head_xml.join(lines_xml, on=["_msg", "_doc"], how="left")
            counts = body.with_columns(pl.col("_lines").is_null().alias("_no_lines"))
            if spec.lines_min and counts["_no_lines"].any():
                raise EncodeError(
                    [finding("document.lines_missing", f"/{spec.root}", element=spec.lines.name)]
                )
        else:
            body = body.with_columns(pl.lit("").alias("_lines"))
        docs = body.select(
            "_msg",
            pl.concat_str(
                [
                    pl.lit(f"<ceb:{spec.document}>"),
                    pl.col("_head"),
                    pl.col("_lines").fill_null(""),
                    pl.lit(f"</ceb:{spec.document}>"),
                ]
            ).alias("_doc_xml"),
        )
    else:
        docs = head_xml.select("_msg", pl.col("_head").alias("_doc_xml"))
    per_msg = docs.group_by("_msg", maintain_order=True).agg(pl.col("_doc_xml").str.join(""))
    canonical = (
        pl.col("_doc_xml").str.contains(_NOT_CANONICAL.pattern).not_()
        if signer is not None
        else pl.lit(False)
    )
    # the bodies as UTF-8 bytes straight from the frame (no round trip through Python strings)
    per_msg = per_msg.select("_msg", pl.col("_doc_xml").cast(pl.Binary), canonical.alias("_canonical"))
    out: list[tuple[int, bytes]] = []
    closing = f"</ceb:{spec.root}>".encode()
    for msg, body, is_canonical in per_msg.iter_rows():
        guid = guids[msg] if guids is not None else str(uuid.uuid4()).upper()
        opening = f'<ceb:{spec.root} xmlns:ceb="{CEB_NS}" guid="{guid}" version="1.0">'.encode()
        transfer = _transfer_xml(transfers[msg]) if transfers is not None else ""
        if signer is None:
            data = b"".join((_DECLARATION, opening, body, transfer.encode(), closing))
        else:
            assert isinstance(signer, Identity)
            is_canonical = (
                is_canonical
                and _PLAIN_ATTRIBUTE.fullmatch(guid) is not None
                and not _NOT_CANONICAL.search(transfer)
            )
            data = _signed((opening, body, transfer.encode()), closing, signer, canonical=is_canonical)
        out.append((msg, data))
    return out


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# what canonical XML (C14N 1.0) would write differently from this module's text: carriage returns (and any
# other control character, which XML forbids anyway) in text, and attribute values that need escaping
_NOT_CANONICAL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_PLAIN_ATTRIBUTE = re.compile(r'[^"&<>\s]*')


def _signed(content: tuple[bytes, ...], closing: bytes, signer: SigningIdentity, *, canonical: bool) -> bytes:
    """The message with its enveloped XML-DSig (RSA-SHA1, C14N 1.0: as :func:`cbec.messages.signature.sign`).

    ``content``: the message's text up to its closing tag, in pieces.  The text this module writes is
    already in canonical form (attributes in order, elements never self-closed, text escaped as C14N escapes
    it), so the digest is taken over the text itself and the Signature element is written as text — no
    parse, no canonicalisation pass.  Anything else (``canonical`` false: a carriage return in a value, a
    guid that needs escaping) takes the tree path.
    """
    import base64
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from lxml import etree

    from cbec.messages.safe_xml import parse_only
    from cbec.messages.signature import ALGORITHMS, C14N, ENVELOPED, sign

    if not canonical:
        root = parse_only(b"".join((_DECLARATION, *content, closing)))
        sign(root, signer)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    hashed = hashlib.sha1()
    for piece in (*content, closing):
        hashed.update(piece)
    digest = base64.b64encode(hashed.digest()).decode("ascii")
    sig_uri, digest_uri = ALGORITHMS["rsa-sha1"]
    info = (
        f'<ds:CanonicalizationMethod Algorithm="{C14N}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{sig_uri}"></ds:SignatureMethod>'
        f'<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"></ds:Transform>'
        f'</ds:Transforms><ds:DigestMethod Algorithm="{digest_uri}"></ds:DigestMethod>'
        f"<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>"
    )
    # the SignedInfo as canonicalised inside the message: the namespaces in scope are declared on it
    signed_info = f'<ds:SignedInfo xmlns:ceb="{CEB_NS}" xmlns:ds="{DS_NS}">{info}</ds:SignedInfo>'
    value = signer.key.sign(signed_info.encode(), padding.PKCS1v15(), hashes.SHA1())
    signature = (
        f'<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>{info}</ds:SignedInfo>'
        f"<ds:SignatureValue>{base64.b64encode(value).decode('ascii')}</ds:SignatureValue>"
        f"<ds:KeyInfo><ds:KeyName>{_xml_text(signer.key_name)}</ds:KeyName><ds:X509Data>"
        f"<ds:X509Certificate>{signer.certificate_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        "</ds:Signature>"
    )
    return b"".join((_DECLARATION, *content, signature.encode(), closing))


def _xml_text(value: str) -> str:
    from xml.sax.saxutils import escape

    return escape(value)
