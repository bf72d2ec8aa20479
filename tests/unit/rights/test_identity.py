"""Enterprise codes: the USCC check character of GB 32100-2015 (properties) and the shapes of codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbec.rights import CodeKind, FilingError, classify_code, valid_customs_code, valid_uscc
from cbec.rights.identity import USCC_ALPHABET, uscc_check_char

# Published USCCs of well-known companies and the standard's own example.
KNOWN = ["9144030071526726XG", "914403001922038216", "91330100716105852F", "91350100M000100Y43"]

_char = st.sampled_from(USCC_ALPHABET)
_digit = st.sampled_from("0123456789")
#: The first 17 characters of a USCC: 2 of the alphabet, 6 digits (division code), 9 of the alphabet.
first17 = st.builds(
    lambda a, b, c: "".join(a + b + c),
    st.lists(_char, min_size=2, max_size=2),
    st.lists(_digit, min_size=6, max_size=6),
    st.lists(_char, min_size=9, max_size=9),
)


@pytest.mark.parametrize("code", KNOWN)
def test_known_usccs(code: str) -> None:
    assert valid_uscc(code)
    assert classify_code(code) is CodeKind.USCC
    assert classify_code(code.lower()) is CodeKind.USCC


@given(first17)
def test_appending_the_check_char_makes_a_valid_uscc(body: str) -> None:
    code = body + uscc_check_char(body)
    assert valid_uscc(code)
    assert classify_code(code) is CodeKind.USCC


@given(first17, st.integers(min_value=0, max_value=17), _char)
def test_any_single_substitution_is_detected(body: str, position: int, replacement: str) -> None:
    """31 is prime and every weight is non-zero mod 31, so changing one character changes the sum."""
    code = body + uscc_check_char(body)
    changed = code[:position] + replacement + code[position + 1 :]
    if changed != code:
        assert not valid_uscc(changed)


@given(first17, st.integers(min_value=0, max_value=16))
def test_adjacent_transpositions_of_different_characters_are_detected(body: str, i: int) -> None:
    """Weights of neighbours differ (3^i ≠ 3^(i+1) mod 31), so swapping two different characters is caught."""
    code = body + uscc_check_char(body)
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    if swapped != code:
        assert not valid_uscc(swapped)


@given(first17)
def test_check_char_is_in_the_alphabet(body: str) -> None:
    assert uscc_check_char(body) in USCC_ALPHABET


@pytest.mark.parametrize(
    "code",
    [
        "9144030071526726XH",  # wrong check character
        "91440300715267260G",  # one digit changed
        "9I440300715267260G",  # I is not in the alphabet
        "91A40300715267260G",  # positions 3–8 are digits
        "9144030071526726X",  # 17 characters
    ],
)
def test_bad_usccs(code: str) -> None:
    assert not valid_uscc(code)
    with pytest.raises(FilingError) as exc:
        classify_code(code)
    assert exc.value.zh and exc.value.en


def test_check_char_input() -> None:
    with pytest.raises(ValueError):
        uscc_check_char("123")
    with pytest.raises(ValueError):
        uscc_check_char("9144030071526726I")


@pytest.mark.parametrize("code", ["1105910159", "3301960101", "31209606ZZ", " 1105910159 "])
def test_customs_codes(code: str) -> None:
    assert classify_code(code) is CodeKind.CUSTOMS


@pytest.mark.parametrize("code", ["110591015", "A105910159", "1105-10159", "", "无"])
def test_bad_customs_codes(code: str) -> None:
    assert not valid_customs_code(code)
    with pytest.raises(FilingError):
        classify_code(code)


def test_accounts() -> None:
    assert classify_code("officer-0421", account=True) is CodeKind.ACCOUNT
    with pytest.raises(FilingError):
        classify_code("关员 0421", account=True)
    with pytest.raises(FilingError):
        classify_code("x" * 33, account=True)
