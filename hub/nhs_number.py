"""NHS number validation: ten digits whose last is a modulus-11 check digit."""

from __future__ import annotations

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces and dashes people write NHS numbers with (``943 476 5919``)."""
    return value.replace(" ", "").replace("-", "")


def is_valid_nhs_number(value: str) -> bool:
    digits = normalise_nhs_number(value)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    remainder = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=False)) % 11
    check = 11 - remainder
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])
