"""Children in Need census (DfE XML return) → referrals, assessments, CIN and CP plans, closure.

Each ``<Child>`` is one record (keyed by ``LAchildID``); the file streams through
``iterparse`` in constant memory. Per ``<CINdetails>`` episode:

* ``CINreferralDate`` → ``REFERRAL_RECEIVED`` (source and primary need codes kept);
* each authorised ``<Assessments>`` → ``ASSESSMENT_COMPLETED`` — a ``PRE_BIRTH`` one when the
  child is known only by an expected birth date;
* ``<CINPlanDates>`` → ``PLAN_STARTED`` / ``PLAN_ENDED`` (CHILD_IN_NEED);
* ``<ChildProtectionPlans>`` → ``PLAN_STARTED`` / ``PLAN_ENDED`` (CHILD_PROTECTION, with the
  initial category of abuse), classed as safeguarding data;
* ``CINclosureDate`` → ``CASE_CLOSED`` with the reason code.

Element names: DfE "Children in need census 2025 to 2026" specification (tests/data/SOURCES.md).
XML gives no line numbers through ``iterparse``; a refused child is located as
``file:Child[n]`` (its position) and its ``LAchildID``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime
from typing import BinaryIO, ClassVar, Final

from hub.connectors.sdk import (
    Classification,
    Connector,
    ConnectorConfig,
    EventBuilder,
    Fields,
    InputError,
    Record,
    local_identifier,
)
from hub.events import CaseEvent, EventType
from hub.payloads import (
    AssessmentCompleted,
    CaseClosed,
    PersonIdentifier,
    PlanEnded,
    PlanStarted,
    ReferralReceived,
)
from hub.vocabulary import AssessmentType, DataCategory, PlanType, Sensitivity

UPN_SYSTEM: Final = "urn:dfe:upn"
PLANS: Final = Classification(DataCategory.SOCIAL_CARE_PLANS, Sensitivity.RESTRICTED)
SAFEGUARDING: Final = Classification(DataCategory.SAFEGUARDING, Sensitivity.RESTRICTED)
ISO: Final = ("%Y-%m-%d",)


def _flat(element: ET.Element) -> dict[str, str]:
    """An element's leaf children as name → text (repeated leaves keep the first)."""
    values: dict[str, str] = {}
    for child in element:
        if len(child) == 0 and child.tag not in values:
            values[child.tag] = (child.text or "").strip()
    return values


class CINCensus(Connector[ConnectorConfig]):
    name = "cin-census"
    summary = "Children in Need census (XML): referrals, assessments, CIN/CP plans, closures"
    config_model = ConnectorConfig
    example_config: ClassVar = {"system": "council-cin", "organisation_code": "E08000003"}

    def read(self, stream: BinaryIO, name: str) -> Iterator[Record]:
        position = 0
        try:
            for _, element in ET.iterparse(stream, events=("end",)):  # noqa: S314 - no DTDs
                if element.tag != "Child":
                    continue
                position += 1
                element.tail = None  # text after </Child> is not the child's, and would make
                # its serialisation junk after the document element when mapped
                identifiers = element.find("ChildIdentifiers")
                child_id = (
                    identifiers.findtext("LAchildID", "").strip() if identifiers is not None else ""
                )
                yield Record(
                    f"{name}:Child[{position}]",
                    child_id or f"child:{position}",
                    ET.tostring(element),
                    {"LAchildID": child_id},
                )
                element.clear()
        except ET.ParseError as error:
            line, column = error.position
            raise InputError(f"{name}:{line}:{column}: not well-formed XML: {error}") from error

    def map(
        self, record: Record, config: ConnectorConfig, recorded_at: datetime
    ) -> list[CaseEvent]:
        child = ET.fromstring(record.raw)  # noqa: S314 - our own serialisation of a parsed element
        issues: list[tuple[str, str]] = []
        identifiers = child.find("ChildIdentifiers")
        found = identifiers if identifiers is not None else child
        ids = Fields(_flat(found), issues=issues, prefix="ChildIdentifiers.")
        child_id = ids.text("LAchildID")
        upn = ids.text("UPN", required=False)
        born = ids.date("PersonBirthDate", required=False, formats=ISO)
        expected = ids.date("ExpectedPersonBirthDate", required=False, formats=ISO)
        if child_id is None:
            ids.check()
        assert child_id is not None
        subject = (local_identifier(config, "child", child_id),) + (
            (PersonIdentifier(system=UPN_SYSTEM, value=upn),) if upn else ()
        )
        emit = EventBuilder(config, record, subject, recorded_at)
        unborn = born is None and expected is not None
        events: list[CaseEvent] = []
        for number, details in enumerate(child.findall("CINdetails"), start=1):
            events += _episode(emit, child_id, details, f"CINdetails[{number}].", issues, unborn)
        ids.check()  # every episode reports into the same list
        return events


def _episode(
    emit: EventBuilder,
    child_id: str,
    details: ET.Element,
    prefix: str,
    issues: list[tuple[str, str]],
    unborn: bool,
) -> list[CaseEvent]:
    fields = Fields(_flat(details), prefix=prefix, issues=issues)
    referred = fields.date("CINreferralDate", formats=ISO)
    closed = fields.date("CINclosureDate", required=False, formats=ISO)
    if referred is None:
        return []
    referral_id = f"{child_id}:{referred.isoformat()}"
    events = [
        emit(
            EventType.REFERRAL_RECEIVED,
            ReferralReceived(
                referral_id=referral_id,
                service="childrens-social-care",
                referral_source=fields.text("ReferralSource", required=False),
                primary_need=fields.text("PrimaryNeedCode", required=False),
            ),
            occurred=referred,
            classified=PLANS,
        )
    ]
    for number, assessment in enumerate(details.findall("Assessments"), start=1):
        part = Fields(_flat(assessment), prefix=f"{prefix}Assessments[{number}].", issues=issues)
        started = part.date("AssessmentActualStartDate", formats=ISO)
        authorised = part.date("AssessmentAuthorisationDate", required=False, formats=ISO)
        if started is None or authorised is None:
            continue  # still open: nothing completed yet
        factors = tuple(
            (factor.text or "").strip()
            for factor in assessment.iter("AssessmentFactors")
            if (factor.text or "").strip()
        )
        kind = AssessmentType.PRE_BIRTH if unborn else AssessmentType.SINGLE_ASSESSMENT
        events.append(
            emit(
                EventType.ASSESSMENT_COMPLETED,
                AssessmentCompleted(
                    assessment_id=f"{referral_id}:assessment:{started.isoformat()}",
                    assessment_type=kind,
                    started_on=started,
                    completed_on=authorised,
                    factors=factors,
                ),
                occurred=authorised,
                classified=SAFEGUARDING if unborn else PLANS,
            )
        )
    plans = [
        ("CINPlanDates", "CINPlanStartDate", "CINPlanEndDate", PlanType.CHILD_IN_NEED, PLANS, None),
        (
            "ChildProtectionPlans",
            "CPPstartDate",
            "CPPendDate",
            PlanType.CHILD_PROTECTION,
            SAFEGUARDING,
            "InitialCategoryOfAbuse",
        ),
    ]
    for tag, start_tag, end_tag, plan_type, classified, category_tag in plans:
        for number, plan in enumerate(details.findall(tag), start=1):
            part = Fields(_flat(plan), prefix=f"{prefix}{tag}[{number}].", issues=issues)
            started = part.date(start_tag, formats=ISO)
            ended = part.date(end_tag, required=False, formats=ISO)
            if started is None:
                continue
            plan_id = f"{child_id}:{plan_type.value}:{started.isoformat()}"
            category = part.text(category_tag, required=False) if category_tag else None
            events.append(
                emit(
                    EventType.PLAN_STARTED,
                    PlanStarted(
                        plan_id=plan_id, plan_type=plan_type, started_on=started, category=category
                    ),
                    occurred=started,
                    classified=classified,
                )
            )
            if ended is not None:
                events.append(_plan_ended(emit, plan_id, plan_type, ended, classified))
    if closed is not None:
        events.append(
            emit(
                EventType.CASE_CLOSED,
                CaseClosed(
                    case_id=referral_id,
                    closed_on=closed,
                    reason=fields.text("ReasonForClosure", required=False),
                ),
                occurred=closed,
                classified=PLANS,
            )
        )
    return events


def _plan_ended(
    emit: EventBuilder, plan_id: str, plan_type: PlanType, ended: date, classified: Classification
) -> CaseEvent:
    payload = PlanEnded(plan_id=plan_id, plan_type=plan_type, ended_on=ended)
    return emit(EventType.PLAN_ENDED, payload, occurred=ended, classified=classified)
