"""The evaluator's extract: keyed pseudonyms per evaluation, no direct identifier, months."""

from __future__ import annotations

import json
import re
from datetime import date
from functools import reduce

import pytest

from hub.kafka.codec import load_schema
from hub.outcomes.extract import COLUMNS, data_dictionary, extract_rows, pseudonym
from hub.outcomes.fold import PersonOutcomes, empty_record, fold
from tests.unit.test_outcomes_fold import BABY, MUM, SF, baby_events, mother_year

KEY_A, KEY_B = b"a" * 32, b"b" * 32
AS_OF = date(2027, 10, 1)


def records() -> list[PersonOutcomes]:
    mother = reduce(fold, mother_year(), empty_record(MUM))
    baby = reduce(
        fold, baby_events(date(2026, 9, 20), home_on=date(2026, 12, 1)), empty_record(BABY)
    )
    return [mother, baby]


def test_one_row_per_episode_with_every_column() -> None:
    [row] = extract_rows(records(), SF, key=KEY_A, evaluation="ipc-2027", as_of=AS_OF)
    assert list(row) == [c.name for c in COLUMNS]
    assert row["referred_month"] == "2026-04"
    assert row["accepted_month"] == "2026-04"
    assert row["exit_month"] == "2027-01"
    assert row["gestation_weeks_at_referral"] == "16"
    assert (row["pathway_at_referral"], row["pathway_latest"]) == ("B", "C")
    assert (row["wemwbs_entry"], row["wemwbs_exit"]) == ("38", "47")
    assert (row["baby_at_14_days"], row["baby_at_12_months"]) == (
        "Looked after",
        "At home, no plan",
    )
    assert row["ethnic_group"] == "Black"
    assert row["baby_birth_month"] == "2026-09"


def test_no_direct_identifier_and_no_full_date_leaves() -> None:
    rows = extract_rows(records(), SF, key=KEY_A, evaluation="ipc-2027", as_of=AS_OF)
    keyed = ("person", "episode", "baby")
    assert all(re.fullmatch(r"[0-9a-f]{24}", row[name]) for row in rows for name in keyed)
    text = json.dumps([{k: v for k, v in row.items() if k not in keyed} for row in rows])
    for identifier in (MUM, BABY, "R1", "355", "LAC-1", "ANC-1", "salford-lcs"):
        assert identifier not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # months only
    assert not re.search(r"\b\d{10}\b", text)  # nothing shaped like an NHS number


def test_pseudonyms_are_stable_in_an_evaluation_and_unlinkable_across_two() -> None:
    first = extract_rows(records(), SF, key=KEY_A, evaluation="ipc-2027", as_of=AS_OF)
    again = extract_rows(records(), SF, key=KEY_A, evaluation="ipc-2027", as_of=AS_OF)
    other = extract_rows(records(), SF, key=KEY_B, evaluation="ecorys-2028", as_of=AS_OF)
    assert first == again
    assert first[0]["person"] == pseudonym(KEY_A, "ipc-2027", MUM)
    assert {first[0]["person"], first[0]["baby"]}.isdisjoint({other[0]["person"], other[0]["baby"]})
    # the same key under another evaluation's name is no link either
    assert pseudonym(KEY_A, "ecorys-2028", MUM) != first[0]["person"]


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        extract_rows(records(), SF, key=b"short", evaluation="x", as_of=AS_OF)


def test_the_data_dictionary_comes_from_the_contract() -> None:
    dictionary = data_dictionary(load_schema("case_event"))
    assert [entry["column"] for entry in dictionary] == [c.name for c in COLUMNS]
    by_column = {entry["column"]: entry for entry in dictionary}
    assert (
        by_column["gestation_weeks_at_referral"]["from"]
        == "ReferralReceived.expected_delivery_date"
    )
    assert "gestation at referral" in by_column["gestation_weeks_at_referral"]["contract"]
    assert all(entry["contract"] for entry in dictionary if entry["from"].startswith("Programme"))
