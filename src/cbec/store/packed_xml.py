"""Receipt XML kept compressed at rest, and given back as it was written.

Receipts are most of what clearance writes: at 20,000 parcels, 72 of the database's 129 MB were receipt
XML, which SQLite writes twice (the write-ahead log, then the database file) inside the clearing
transaction.  XML this repetitive shrinks about tenfold with zlib at its fastest level, so the receipt
table stores it compressed; :class:`cbec.store.schema.PackedXml` packs on the way in and unpacks on the way
out, and every reader sees the XML bytes.

A stored value tells its own form: a zlib stream always begins with the byte ``x`` (0x78, a 32 KiB window)
and a well-formed XML document never does (it begins with ``<``, a byte-order mark or white space).  So rows
written before this existed read as they are, and a value packed early (by the processes that render
receipts, off the clearing process) is not packed again.
"""

from __future__ import annotations

import zlib

#: zlib's fastest level: nearly all of the saving for a fraction of the time of the default level.
LEVEL = 1


def is_packed(blob: bytes) -> bool:
    """Whether ``blob`` is a zlib stream (header byte 0x78 and a valid header check) rather than XML."""
    return len(blob) >= 2 and blob[0] == 0x78 and (blob[0] * 256 + blob[1]) % 31 == 0


def pack(xml: bytes) -> bytes:
    """The stored form of ``xml`` (a value already packed is returned as it is)."""
    return xml if is_packed(xml) else zlib.compress(xml, LEVEL)


def unpack(blob: bytes) -> bytes:
    """The XML of a stored value (a value that is not packed is XML already)."""
    return zlib.decompress(blob) if is_packed(blob) else blob
