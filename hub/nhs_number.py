"""NHS number validation: ten digits whose last is a modulus-11 check digit."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces and dashes people write NHS numbers with (``943 476 5919``)."""
    return value.replace(" ", "").replace("-", "")


def check_digit(stem: str) -> int | None:
    """The modulus-11 check digit of a nine-digit stem; None when it would be 10 (a stem no
    valid NHS number starts with)."""
    remainder = sum(int(d) * w for d, w in zip(stem, _WEIGHTS, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def is_valid_nhs_number(value: str) -> bool:
    digits = normalise_nhs_number(value)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    return check_digit(digits[:9]) == int(digits[9])


def valid_nhs_numbers(start: int) -> Iterator[str]:
    """Valid NHS numbers from the nine-digit stem ``start`` upwards, one per stem that has a
    check digit (synthetic people for tests, benchmarks and demo data)."""
    for stem in itertools.count(start):
        digits = f"{stem:09d}"
        check = check_digit(digits)
        if check is not None:
            yield digits + str(check)
