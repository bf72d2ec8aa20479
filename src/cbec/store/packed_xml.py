"""Receipt XML kept compressed at rest, and given back as it was written.

Receipts are most of what clearance writes: at 20,000 parcels, 72 of the database's 129 MB were receipt
XML, which SQLite writes twice (the write-ahead log, then the database file) inside the clearing
transaction.  XML this repetitive shrinks about tenfold, so the receipt table stores it compressed:
:class:`cbec.store.schema.PackedXml` packs on the way in and unpacks on the way out, and every reader sees
the XML bytes.  The codec is :mod:`cbec.store.compression` (Zstandard; zlib before session 11).

A stored value tells its own form: a Zstandard frame begins with its magic number (28 B5 2F FD), a zlib
stream with the byte ``x`` (0x78, a 32 KiB window), and a well-formed XML document with neither (it begins
with ``<``, a byte-order mark or white space).  So rows written before either existed read as they are,
and a value packed early (by the processes that render receipts, off the clearing process) is not packed
again.
"""

from __future__ import annotations

import zlib

from cbec.store import compression


def _is_zlib(blob: bytes) -> bool:
    return len(blob) >= 2 and blob[0] == 0x78 and (blob[0] * 256 + blob[1]) % 31 == 0


def is_packed(blob: bytes) -> bool:
    """Whether ``blob`` is compressed (a Zstandard frame, or a zlib stream written before) rather than XML."""
    return compression.is_frame(blob) or _is_zlib(blob)


def pack(xml: bytes) -> bytes:
    """The stored form of ``xml`` (a value already packed is returned as it is)."""
    return xml if is_packed(xml) else compression.compress(xml)


def unpack(blob: bytes) -> bytes:
    """The XML of a stored value (a value that is not packed is XML already)."""
    if compression.is_frame(blob):
        return compression.decompress(blob)
    return zlib.decompress(blob) if _is_zlib(blob) else blob
