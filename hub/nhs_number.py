"""NHS number validation: ten digits whose last is a modulus-11 check digit."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Final

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


# Ten digits as people write them (``9434765919``, ``943 476 5919``, ``943-476-5919``).
SHAPED: Final = r"(?<![0-9])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9])"
_SHAPED_BYTES: Final = re.compile(SHAPED.encode("ascii"))


def nhs_numbers_in(raw: bytes) -> tuple[str, ...]:
    """Every valid NHS number written anywhere in ``raw`` (with or without spaces or dashes),
    normalised and sorted: how quarantine attributes input it could not parse to the people
    it names (ADR 0020)."""
    found = {normalise_nhs_number(m.group().decode("ascii")) for m in _SHAPED_BYTES.finditer(raw)}
    return tuple(sorted(n for n in found if is_valid_nhs_number(n)))
