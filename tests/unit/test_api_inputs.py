"""Datetimes the API takes: refused at the model, naming the field, when the hub cannot keep
them (the fuzzer's year-163 consent expiry), accepted otherwise."""
# A consent's ``obtained_at`` is the same type (hub/api_inputs.Instant); expiries stand for both.

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hub.http.consents import ConsentIn, OverrideIn

SUBJECT = {"system": "https://example.org/maternity-id", "value": "M-1"}
CONSENT: dict[str, Any] = {
    "subject": SUBJECT,
    "recipients": ["LA1"],
    "categories": ["APPOINTMENTS"],
}
OVERRIDE: dict[str, Any] = CONSENT | {"reason_code": "SECTION_47_ENQUIRY"}
CONSENT |= {"method": "WRITTEN"}

REFUSED = [
    "0163-05-01T00:00:00Z",  # the fuzzer's
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC: not even convertible
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "1899-12-31T23:59:59Z",
    "2027-01-01T00:00:00",  # no zone: whose midnight?
]
ACCEPTED = ["2027-01-01T00:00:00Z", "2027-01-01T09:30:00+01:00", "1900-01-01T00:00:00Z"]


@pytest.mark.parametrize("model", [ConsentIn, OverrideIn])
@pytest.mark.parametrize("expires_at", REFUSED)
def test_an_expiry_the_hub_cannot_keep_is_refused_naming_the_field(
    model: type[ConsentIn | OverrideIn], expires_at: str
) -> None:
    body = (OVERRIDE if model is OverrideIn else CONSENT) | {"expires_at": expires_at}
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert [error["loc"] for error in refused.value.errors()] == [("expires_at",)]


@pytest.mark.parametrize("model", [ConsentIn, OverrideIn])
@pytest.mark.parametrize("expires_at", ACCEPTED)
def test_an_ordinary_expiry_is_kept_as_given(
    model: type[ConsentIn | OverrideIn], expires_at: str
) -> None:
    body = (OVERRIDE if model is OverrideIn else CONSENT) | {"expires_at": expires_at}
    assert model.model_validate(body).expires_at is not None
