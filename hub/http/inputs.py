"""Types for what the HTTP API takes, bounded where a value the type allows would fail later.

A datetime Python can hold is not one every part of the hub can: an expiry in the year 163, or
at 0001-01-01 in a zone east of UTC, cannot be converted to UTC, compared or encoded everywhere
it travels (Avro ``timestamp-millis``, SQL, the gate's clock). Refused at the model it is a 422
naming the field, as every bad input is, instead of a 500 wherever it first breaks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime

from hub.identifiers import PERSON_KEY_DESCRIPTION

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9999, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of dates the hub keeps") from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError(
            f"must be from {EARLIEST.date().isoformat()} up to {LATEST.date().isoformat()} (UTC)"
        )
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]
"""A timezone-aware datetime from 1900 up to (not including) 9999, UTC."""


# A person named in a route's path: the one description of ``{person_key}`` in the OpenAPI.
PersonKey = Annotated[str, Path(description=PERSON_KEY_DESCRIPTION, examples=["9434765919"])]
