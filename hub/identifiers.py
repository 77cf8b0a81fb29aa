"""The identifiers several routes and answers share, described once for the OpenAPI document.

A client must know what to put in ``{person_key}``, and what an ``appointment_id`` it is shown
refers to, without reading the code; one definition keeps every route's description the same.
The path parameter built from it, ``PersonKey``, is HTTP's own: :mod:`hub.http.inputs`.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

PERSON_KEY_DESCRIPTION: Final = (
    "The person, as one of their identifier keys: a valid NHS number as 10 digits without "
    "spaces (`9434765919`), or a local identifier as `system|value` (URL-encoded, `|` is `%7C`), "
    "e.g. `urn:hub:VCS-HOMESTART-SALFORD:person|HS-P-12` for a partner's own id or "
    "`https://fhir.mft.example/Id/mrn|M123456` for a source's. Any of a person's identifiers "
    "works, including one of a record merged since: the hub finds every identifier linked to it."
)

APPOINTMENT_ID_DESCRIPTION: Final = (
    "The sending system's own id for the appointment, as it sent it: over HL7 v2, SCH-2 (filler "
    "appointment id), else SCH-1 (placer); over FHIR, the Appointment's first identifier as "
    "`system|value` (its value alone without a system), else the resource id; from a charity, "
    "its `session_id`. Unique within one source system: a missed-appointment alert is one per "
    "(organisation, system, appointment id)."
)
AppointmentId = Annotated[str, Field(description=APPOINTMENT_ID_DESCRIPTION)]
