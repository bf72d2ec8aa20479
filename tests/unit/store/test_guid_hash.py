"""The guid's index number: one definition, the same from Python and from Polars, stable for ever."""

from __future__ import annotations

import uuid

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cbec.store.guid_hash import guid_hash, guid_hashes

uuids = st.uuids().flatmap(lambda u: st.sampled_from([str(u).upper(), str(u)]))
texts = st.text(max_size=64)


def test_the_definition_is_fixed() -> None:
    # written out by hand: a stored number must never change, whatever library version computes it
    digits = "194356931E5644EBA5AD84C57B000000"
    assert guid_hash("19435693-1E56-44EB-A5AD-84C57B000000") == int(digits[:15], 16) ^ int(digits[17:], 16)
    assert guid_hash("19435693-1E56-44EB-A5AD-84C57B000000") == 304469803373257806
    assert guid_hash("G-1") == 241138111799955494  # not a UUID: BLAKE2b-64, first 60 bits
    # a trailing newline is not the UUID form (Python's ``$`` would allow it; the length does not)
    assert guid_hash("19435693-1E56-44EB-A5AD-84C57B000000\n") != guid_hash(
        "19435693-1E56-44EB-A5AD-84C57B000000"
    )


@given(st.lists(st.one_of(uuids, texts, st.none()), max_size=40))
def test_polars_and_python_agree_and_fit_a_signed_bigint(guids: list[str | None]) -> None:
    hashed = guid_hashes(pl.Series("guid", guids, dtype=pl.String))
    assert hashed.name == "guid" and hashed.dtype == pl.Int64 and hashed.len() == len(guids)
    for guid, number in zip(guids, hashed.to_list(), strict=True):
        if guid is None:
            assert number is None
        else:
            assert number == guid_hash(guid)
            assert 0 <= number < 2**60


def test_upper_and_lower_case_share_a_number_and_random_uuids_spread() -> None:
    u = str(uuid.uuid4())
    assert guid_hash(u) == guid_hash(u.upper())  # the text comparison tells them apart
    numbers = {guid_hash(str(uuid.uuid4()).upper()) for _ in range(20_000)}
    assert len(numbers) == 20_000
    # the top bits vary too (an index over them spreads): all 16 values of the top 4 bits occur
    assert {n >> 56 for n in numbers} == set(range(16))
