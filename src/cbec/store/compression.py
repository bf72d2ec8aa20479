"""How cbec compresses what it stores: Zstandard at level 1.

Clearance compresses every message it takes into the inbox and every receipt it writes, so this is paid
on all the bytes that come in and go out.  Measured on the development VM (2 cores) over the first 2,000
messages (155 MB) of the 200,000-parcel benchmark corpus, in CPU seconds:

========================  ==========  ============  ============
codec                     compress    decompress    size ratio
========================  ==========  ============  ============
zlib level 1 (before)     0.56        0.32          6.8
Zstandard level 1         0.17        0.13          8.7
========================  ==========  ============  ============

So a third of the time to compress, two fifths to decompress, and a fifth fewer bytes for SQLite to write.
Values written with zlib before stay readable: each reader knows the older form (see
:mod:`cbec.store.packed_xml` and the inbox's ``raw_codec``).

A Zstandard context is not safe to share between threads, and making one costs more than compressing a
small receipt, so each thread keeps its own.
"""

from __future__ import annotations

import threading

import zstandard

#: Zstandard's level 1: most of the saving at the least CPU (level 3, its default, costs a third more here
#: for the same size).
LEVEL = 1
MAGIC = b"\x28\xb5\x2f\xfd"

_local = threading.local()


def is_frame(blob: bytes) -> bool:
    """Whether ``blob`` begins like a Zstandard frame (XML, zlib and AES-GCM envelopes never do)."""
    return blob[:4] == MAGIC


def compress(data: bytes) -> bytes:
    """One frame, which records its own length (so :func:`decompress` needs no size)."""
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return bytes(compressor.compress(data))


def decompress(frame: bytes) -> bytes:
    """The bytes of one frame made by :func:`compress`; a damaged frame raises ``zstandard.ZstdError``."""
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return bytes(decompressor.decompress(frame))
