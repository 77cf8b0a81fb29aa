"""A statutory partner's practitioner names a practitioner to (or takes one off) the team.

Who may is :func:`hub.team.assignments.may_change_team`; the change is a statement
(``PRACTITIONER_ASSIGNED`` / ``PRACTITIONER_UNASSIGNED``,
:func:`~hub.services.statements.publish_statement`), so the alert and team projections fold it
like a trust's ROL or CareTeam. Because it changes who is addressed alerts, the change is also
put on the person's disclosure trail (channel API, the acting organisation's own record), which
the disclosure report (:func:`hub.services.governance.disclosure_report`) shows.
"""

from __future__ import annotations

import uuid

from hub.disclosures import Channel, DisclosedItem, Disclosure
from hub.ingest.sink import CaseEventSink
from hub.payloads import PersonIdentifier, PractitionerAssigned, PractitionerUnassigned
from hub.practitioners import PractitionerRef
from hub.services.errors import ForbiddenError, UnprocessableError
from hub.services.release import SharingContext
from hub.services.statements import Stated, publish_statement, record_disclosures
from hub.sharing.policy import Recipient
from hub.team.assignments import Change, may_change_team
from hub.vocabulary import DataCategory, LawfulBasis, Purpose, Sensitivity


async def change_assignment(
    context: SharingContext,
    sink: CaseEventSink,
    reader: Recipient,
    change: Change,
    identifiers: tuple[PersonIdentifier, ...],
    family_key: str | None,
    payload: PractitionerAssigned | PractitionerUnassigned,
) -> Stated:
    """Publish the assignment (or its end) if ``reader`` may make it, then put it on the
    person's disclosure trail.

    :class:`UnprocessableError` for what is asked (a practitioner of an organisation that is no
    party, a midwife of a non-NHS one), :class:`ForbiddenError` for who asks.
    """
    practitioner = PractitionerRef(
        organisation_code=payload.organisation_code, practitioner_id=payload.practitioner_id
    )
    role, scope = payload.role, payload.scope
    decision = may_change_team(
        context.agreement, reader, change, practitioner.organisation_code, role
    )
    if not decision.allowed and decision.status == 422:
        raise UnprocessableError(decision.reason, practitioner.organisation_code)
    if not decision.allowed:
        raise ForbiddenError(decision.reason)
    stated = await publish_statement(
        sink,
        context.clock,
        reader,
        identifiers,
        family_key,
        payload,
        record_key=f"{practitioner.organisation_code}|{practitioner.practitioner_id}|{role}",
        category=DataCategory.PRACTITIONER_ALLOCATION,
        sensitivity=Sensitivity.ROUTINE,
    )
    verb = "assigned" if change is Change.ASSIGN else "unassigned"
    path = "/team/assignments" if change is Change.ASSIGN else "/team/unassignments"
    trail = Disclosure(
        disclosure_id=uuid.uuid4(),
        disclosed_at=context.clock(),
        channel=Channel.API,
        recipient_organisation=reader.organisation_code,
        recipient_role=reader.role,
        recipient_user=reader.user_id,
        subject_key=identifiers[0].key(),
        family_key=family_key,
        purpose=Purpose.DIRECT_CARE,
        items=(
            DisclosedItem(
                category=DataCategory.PRACTITIONER_ALLOCATION,
                controller=reader.organisation_code,
                basis=LawfulBasis.CONTROLLER,
            ),
        ),
        agreement_version=context.agreement.version,
        reference=(
            f"POST {path}: {verb} {practitioner.organisation_code}/{practitioner.practitioner_id} "
            f"as {role.value} ({scope.value}); event {stated.event_id}"
        ),
    )
    await record_disclosures(context, [trail])
    return stated
