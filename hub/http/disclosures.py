"""``GET /people/{person_key}/disclosures``: who has seen data about a person.

A subject-access style report for a governance role of an organisation involved with the
person (:func:`hub.services.governance.disclosure_report`): every disclosure under every
identifier of hers, a summary per receiving organisation, and every attempt to change who may
see her data. Reading it is itself recorded (an export) before it is answered; an organisation
that holds or received nothing about her gets 404, as for a person the hub does not know.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub.http.dependencies import ChangeStoresDep, Reader, SharingContextDep
from hub.http.inputs import PersonKey
from hub.http.openapi import NOT_FOUND
from hub.services.governance import disclosure_report


def disclosures_router() -> APIRouter:
    router = APIRouter(tags=["sharing"])

    @router.get(
        "/people/{person_key:path}/disclosures",
        summary="Who has seen data about this person: a subject-access style report",
        responses=NOT_FOUND,
    )
    async def disclosures_about(
        person_key: PersonKey, reader: Reader, stores: ChangeStoresDep, context: SharingContextDep
    ) -> dict[str, Any]:
        report = await disclosure_report(stores, context, reader, person_key)
        return {
            "subject_key": report.subject_key,
            "generated_at": report.generated_at,
            "summary": report.summary(),
            "disclosures": [entry.model_dump(mode="json") for entry in report.disclosures],
            "changes": [change.model_dump(mode="json") for change in report.changes],
        }

    return router
