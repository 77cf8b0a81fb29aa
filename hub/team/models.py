"""The team-around-the-family response shapes (ADR 0013): what a reader is sent.

Kept apart from the assembly in :mod:`hub.team.view` so the OpenAPI contract is
read in one place. What the gate withholds is absent: a section is empty, a member's
demographics or the lead practitioner are null.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from hub.identifiers import AppointmentId
from hub.team.fold import AppointmentStatus
from hub.vocabulary import AssessmentType, AssignmentScope, PlanType, PractitionerRole


class DemographicsOut(BaseModel):
    person_key: str
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    postcode: str | None


class MemberOut(BaseModel):
    person_id: str
    relationship: str
    demographics: DemographicsOut | None  # None: the reader may not see them


class PractitionerOut(BaseModel):
    person_id: str  # the member the assignment is recorded for
    practitioner_id: str
    name: str
    role: PractitionerRole
    organisation_code: str
    contact: str | None
    scope: AssignmentScope
    since: datetime
    recorded_by: str


class PlanOut(BaseModel):
    person_id: str
    plan_id: str
    plan_type: PlanType
    started_on: date | None
    category: str | None
    organisation_code: str
    local_name: str | None = Field(
        default=None,
        description="What the plan's jurisdiction calls it, e.g. 'registration on the Child "
        "Protection Register' in Wales (ADR 0032); absent where the source did not say.",
    )
    statute: str | None = Field(default=None, description="The law or procedures it is under.")


class AssessmentOut(BaseModel):
    person_id: str
    assessment_id: str
    assessment_type: AssessmentType
    started_on: date | None
    completed_on: date
    factors: list[str]
    organisation_code: str


class ReferralOut(BaseModel):
    person_id: str
    referral_id: str
    service: str
    received_at: datetime
    referral_source: str | None
    primary_need: str | None
    organisation_code: str


class ClosureOut(BaseModel):
    person_id: str
    case_id: str
    closed_on: date
    reason: str | None
    organisation_code: str


class ProgrammeOut(BaseModel):
    person_id: str
    programme: str
    pathway: str | None
    accepted_on: date | None
    sessions_attended: int | None
    sessions_planned: int | None
    stage: str | None
    completed: bool
    organisation_code: str


class PregnancyOut(BaseModel):
    person_id: str  # the mother
    unborn_person_id: str | None
    expected_delivery_date: date | None
    organisation_code: str


class BirthOut(BaseModel):
    person_id: str  # the baby
    birth_date: date
    organisation_code: str


class AppointmentOut(BaseModel):
    person_id: str
    appointment_id: AppointmentId
    start: datetime
    end: datetime | None
    service_type: str | None
    description: str | None
    location: str | None
    status: AppointmentStatus
    organisation_code: str


class TeamOut(BaseModel):
    """The team around one family as one reader may see it."""

    family_key: str | None  # None: a person in no family
    as_of: datetime
    members: list[MemberOut]
    lead_practitioner: PractitionerOut | None
    practitioners: list[PractitionerOut]
    active_plans: list[PlanOut]
    assessments: list[AssessmentOut]
    referrals: list[ReferralOut]
    case_closures: list[ClosureOut]
    programmes: list[ProgrammeOut]
    pregnancies: list[PregnancyOut]
    births: list[BirthOut]
    upcoming_appointments: list[AppointmentOut]
    missed_appointments: list[AppointmentOut]


class CaseloadEntryOut(BaseModel):
    family_key: str | None
    members: list[MemberOut]
    roles: list[PractitionerRole]  # the practitioner's roles in this family
    since: datetime
    lead_practitioner: PractitionerOut | None
    active_plans: list[PlanType]
    programmes: list[ProgrammeOut]
    expected_delivery_dates: list[date]
    next_appointment: datetime | None
    missed_appointments: int


class CaseloadOut(BaseModel):
    organisation_code: str  # the practitioner's: an id means something only in its organisation
    practitioner_id: str
    as_of: datetime
    families: list[CaseloadEntryOut]
