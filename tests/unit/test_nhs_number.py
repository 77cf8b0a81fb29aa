from __future__ import annotations

from pathlib import Path

import pytest

from hub.nhs_number import is_valid_nhs_number

VALID_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "nhs-numbers" / "valid_sample.txt"


def test_published_valid_numbers_pass() -> None:
    numbers = VALID_SAMPLE.read_text().split()
    assert len(numbers) >= 500
    assert all(is_valid_nhs_number(n) for n in numbers)


def test_changing_the_check_digit_fails_every_number() -> None:
    for number in VALID_SAMPLE.read_text().split():
        wrong = number[:9] + str((int(number[9]) + 1) % 10)
        assert not is_valid_nhs_number(wrong), wrong


FULLWIDTH_DIGITS = "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19"


@pytest.mark.parametrize(
    "value", ["", "123", "94347659190", "943476591X", FULLWIDTH_DIGITS, "1000000010"]
)
def test_malformed_numbers_fail(value: str) -> None:
    assert not is_valid_nhs_number(value)


def test_spaces_are_allowed() -> None:
    assert is_valid_nhs_number("943 476 5919")
