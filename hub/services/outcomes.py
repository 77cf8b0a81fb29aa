"""A programme's figures for its programme manager: aggregates only, safe to publish, recorded.

The one path by which the outcomes projection's figures leave the hub (the API's JSON and CSV,
``hub outcomes report``): only a ``PROGRAMME_MANAGER`` of a party to the agreement
(:data:`hub.sharing.agreement.MONITORING_ROLES`) reads them; every figure has been through
statistical disclosure control under the agreement's rule (:mod:`hub.outcomes.report`); and
the report is recorded in the disclosure log as an aggregate disclosure (subject
``aggregate:outcomes/<programme>``, with what it released) before it is answered.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime

from hub.disclosures import (
    AGGREGATE_SUBJECT_PREFIX,
    AggregateRelease,
    Channel,
    DisclosedItem,
    Disclosure,
)
from hub.outcomes.figures import figures, programmes
from hub.outcomes.fold import PersonOutcomes
from hub.outcomes.report import ProgrammeReport, publish
from hub.outcomes.store import OutcomesStore
from hub.services.errors import ForbiddenError, NotFoundError
from hub.services.release import SharingContext
from hub.services.statements import record_disclosures
from hub.sharing.agreement import MONITORING_ROLES, Agreement, DisclosureControl
from hub.sharing.policy import Recipient
from hub.vocabulary import DataCategory, LawfulBasis, Purpose

REPORT = "outcomes"
# What the figures are counted from, by category (the disclosure log names each controller's).
COUNTED: tuple[DataCategory, ...] = (
    DataCategory.PRACTITIONER_ALLOCATION,
    DataCategory.APPOINTMENTS,
    DataCategory.SOCIAL_CARE_PLANS,
    DataCategory.ASSESSMENT_SCORES,
)


def monitoring_only(agreement: Agreement, reader: Recipient) -> None:
    """:class:`ForbiddenError` unless ``reader`` is a programme manager of a party."""
    if reader.role not in MONITORING_ROLES:
        raise ForbiddenError(f"only {sorted(MONITORING_ROLES)} read a programme's figures")
    if reader.organisation_code not in agreement.organisations:
        raise ForbiddenError(f"{reader.organisation_code} is no party to the agreement")


def rule_text(rule: DisclosureControl) -> str:
    return " ".join(f"{name}={value}" for name, value in rule.model_dump().items())


def build_report(
    records: list[PersonOutcomes],
    programme: str,
    agreement: Agreement,
    as_of: date,
    generated_at: datetime,
) -> ProgrammeReport:
    """The published report of ``programme`` from ``records``; :class:`NotFoundError` for a
    programme the hub holds no episode of."""
    if programme not in programmes(records):
        known = ", ".join(programmes(records)) or "none yet"
        raise NotFoundError(f"the hub holds no episodes of {programme!r} (programmes: {known})")
    return publish(
        figures(records, programme, as_of),
        agreement.disclosure_control,
        programme=programme,
        as_of=as_of,
        generated_at=generated_at,
    )


async def programme_report(
    store: OutcomesStore,
    context: SharingContext,
    reader: Recipient,
    programme: str,
    *,
    as_of: date | None = None,
    channel: Channel = Channel.API,
    reference: str,
) -> ProgrammeReport:
    """The programme's report for ``reader``, recorded as an aggregate disclosure first
    (:class:`~hub.services.errors.NotRecordedError` if the record was not taken: nothing is
    answered)."""
    monitoring_only(context.agreement, reader)
    now = context.clock()
    records = await asyncio.to_thread(store.records)
    report = await asyncio.to_thread(
        build_report, records, programme, context.agreement, as_of or now.date(), now
    )
    controllers = sorted(
        {e.organisation for r in records for e in r.episodes.values() if e.programme == programme}
    )
    disclosure = Disclosure(
        disclosure_id=uuid.uuid4(),
        disclosed_at=now,
        channel=channel,
        recipient_organisation=reader.organisation_code,
        recipient_role=reader.role,
        recipient_user=reader.user_id,
        subject_key=f"{AGGREGATE_SUBJECT_PREFIX}{REPORT}/{programme}",
        purpose=Purpose.SERVICE_EVALUATION,
        items=tuple(
            DisclosedItem(
                category=category,
                controller=controller,
                basis=LawfulBasis.PUBLIC_TASK,
                authority="aggregate figures under disclosure control",
            )
            for controller in controllers
            for category in COUNTED
        ),
        agreement_version=context.agreement.version,
        reference=reference,
        aggregate=AggregateRelease(
            report=REPORT,
            scope=programme,
            figures=report.figures,
            hidden=report.hidden,
            rule=rule_text(report.rule),
        ),
    )
    await record_disclosures(context, [disclosure])
    return report
