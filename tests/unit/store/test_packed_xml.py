"""Receipt XML packed at rest: what goes in comes out, and XML is never mistaken for a packed value."""

from __future__ import annotations

import zlib

import zstandard
from hypothesis import given
from hypothesis import strategies as st

from cbec.store import packed_xml

# what a document may begin with: a declaration or an element, after an optional byte-order mark and blanks
starts = st.sampled_from([b"<?xml", b"<ceb:", b"\xef\xbb\xbf<?xml", b" <a", b"\n\t<a", b"<"])


@given(starts, st.binary(max_size=4000))
def test_xml_round_trips_and_is_never_taken_for_packed(start: bytes, rest: bytes) -> None:
    xml = start + rest
    assert not packed_xml.is_packed(xml)
    assert packed_xml.unpack(xml) == xml  # stored before packing existed: read as it is
    packed = packed_xml.pack(xml)
    assert packed_xml.is_packed(packed)
    assert packed_xml.unpack(packed) == xml
    assert packed_xml.pack(packed) == packed  # packed once, in whichever process comes first


def test_receipts_shrink() -> None:
    entry = b"<ceb:InventoryReturn><ceb:guid>%d</ceb:guid><ceb:returnStatus>800</ceb:returnStatus>"
    xml = b'<?xml version="1.0" encoding="UTF-8"?><ceb:CEB622Message>' + b"".join(
        entry % i + b"<ceb:returnInfo>\xe6\x94\xbe\xe8\xa1\x8c</ceb:returnInfo></ceb:InventoryReturn>"
        for i in range(100)
    )
    packed = packed_xml.pack(xml)
    assert len(packed) * 5 < len(xml)
    assert zstandard.ZstdDecompressor().decompress(packed) == xml  # a plain Zstandard frame


@given(starts, st.binary(max_size=4000))
def test_values_packed_with_zlib_before_stay_readable(start: bytes, rest: bytes) -> None:
    xml = start + rest
    old = zlib.compress(xml, 1)  # receipts stored before revision 0016
    assert packed_xml.is_packed(old) and packed_xml.pack(old) == old
    assert packed_xml.unpack(old) == xml
