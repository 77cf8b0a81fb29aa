"""Alerts as a reader may see them: the response shapes, and the one gate-and-record path.

:func:`release_alerts` is what every outgoing channel for alerts calls — the API and the inbox
(through :func:`hub.services.alerts.released_alerts`), outgoing webhooks and
Server-Sent Events (:mod:`hub.subscriptions`). It needs no HTTP request: a
:class:`~hub.services.release.SharingContext` carries the agreement, facts, identity, clock and
sink. Each alert passes the gate for the reader *now*; the disclosures are written before the
function returns anything, so a caller that sends what it returns has the release on record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from pydantic import BaseModel

from hub.alerts.state import AlertStatus
from hub.alerts.store import AlertView
from hub.disclosures import Channel, Disclosure
from hub.identifiers import AppointmentId
from hub.practitioners import PractitionerRef, sort_key
from hub.services.release import ReleaseGate, SharingContext
from hub.sharing.gate import Shape, disclose
from hub.sharing.policy import Recipient, Subject
from hub.vocabulary import DataCategory, Purpose


class PersonOut(BaseModel):
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    # the person's preferred language as her records give it (a BCP 47 tag such as "cy"), or
    # None where none is recorded: what to speak and write to her in
    language: str | None = None


class AppointmentOut(BaseModel):
    appointment_id: AppointmentId
    start: datetime
    end: datetime | None
    service_type: str | None
    description: str | None
    location: str | None


class AlertOut(BaseModel):
    alert_id: str
    status: AlertStatus
    person: PersonOut | None  # None: the reader may not see the person's demographics
    appointment: AppointmentOut
    missed_at: datetime
    raised_at: datetime
    inferred: bool
    source_system: str
    organisation_code: str
    recipients: list[PractitionerRef]
    escalated_to: list[PractitionerRef]
    escalated_at: datetime | None
    escalation_reason: str | None
    acknowledged_by: PractitionerRef | None
    acknowledged_at: datetime | None
    closed_by: PractitionerRef | None
    closed_at: datetime | None
    close_reason: str | None


def alert_out(view: AlertView, *, with_person: bool, alert_id: str | None = None) -> AlertOut:
    """The alert as the API shows it (``alert_id``: its id as a string, if already made)."""
    alert, person, appointment = view.alert, view.person, view.alert.appointment
    return AlertOut(
        alert_id=str(alert.alert_id) if alert_id is None else alert_id,
        status=alert.status,
        person=PersonOut(
            nhs_number=person.nhs_number,
            given_name=person.given_name,
            family_name=person.family_name,
            birth_date=person.birth_date,
            language=person.language,
        )
        if with_person
        else None,
        appointment=AppointmentOut(
            appointment_id=appointment.appointment_id,
            start=appointment.start,
            end=appointment.end,
            service_type=appointment.service_type,
            description=appointment.description,
            location=appointment.location,
        ),
        missed_at=alert.missed_at,
        raised_at=alert.raised_at,
        inferred=alert.inferred,
        source_system=alert.source_system,
        organisation_code=alert.organisation_code,
        recipients=sorted(alert.recipients, key=sort_key),
        escalated_to=sorted(alert.escalated_to, key=sort_key),
        escalated_at=alert.escalated_at,
        escalation_reason=alert.escalation_reason,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        closed_by=alert.closed_by,
        closed_at=alert.closed_at,
        close_reason=alert.close_reason,
    )


async def release_alerts(
    context: SharingContext,
    reader: Recipient,
    views: list[AlertView],
    *,
    channel: Channel,
    reference: str,
    keys: Mapping[str, Sequence[str]] | None = None,
) -> list[AlertOut]:
    """Each alert through the sharing gate for ``reader``; every release recorded first.

    An alert whose appointment the reader may not see is left out; one whose demographics it
    may not see is shown without them. Raises :class:`hub.kafka.publisher.PublishError` when the
    disclosures could not be recorded: then the caller must send nothing. ``keys``: each
    subject's identifier keys (merges followed) when the caller has looked them up already.
    """
    gated = gate_alerts(
        context.gate, reader, views, channel=channel, reference=reference, keys=keys
    )
    await context.record(gated.disclosures)
    return gated.shown


@dataclass(frozen=True)
class GatedAlerts:
    """What a reader may be shown of some alerts, and the disclosures showing it makes."""

    shown: list[AlertOut]
    disclosures: list[Disclosure]


def gate_alerts(
    gate: ReleaseGate,
    reader: Recipient,
    views: list[AlertView],
    *,
    channel: Channel,
    reference: str,
    keys: Mapping[str, Sequence[str]] | None = None,
) -> GatedAlerts:
    """The gate half of :func:`release_alerts`, recording nothing: one decision set and one
    disclosure per person. Nothing it returns may be sent before its disclosures are recorded.

    A subject's other keys (consent follows merges) come from ``keys`` when given, else from
    the person index, once per subject. The gate is asked for the items' shape
    (:func:`alert_shape`: per alert its appointment, and the person's details within it), not
    for items built per field: what it sends of each alert is read off the plan by position.
    """
    by_subject: dict[str, list[int]] = {}
    for index, view in enumerate(views):
        by_subject.setdefault(view.alert.subject_key, []).append(index)
    ids = [str(view.alert.alert_id) for view in views]
    sent: list[tuple[bool, bool]] = [(False, False)] * len(views)  # (the alert, its person)
    disclosures = []
    for key, indices in by_subject.items():  # one decision set and record per person
        known = keys.get(key) if keys is not None else None
        subject, at = Subject(key), gate.clock()
        shape = alert_shape(tuple(views[index].alert.organisation_code for index in indices))
        planned = gate.plan(
            reader,
            subject,
            shape,
            channel=channel,
            purpose=Purpose.DIRECT_CARE,
            at=at,
            also=known if known is not None else gate.identity.same_person(key),
        )
        for position, index in enumerate(indices):
            sent[index] = (planned.sent[2 * position], planned.sent[2 * position + 1])
        disclosure = disclose(
            planned,
            at=at,
            reference=f"{reference} alerts " + ",".join(ids[index] for index in indices),
        )
        if disclosure is not None:
            disclosures.append(disclosure)
    shown = [
        alert_out(view, with_person=person, alert_id=ids[index])
        for index, (view, (alert, person)) in enumerate(zip(views, sent, strict=True))
        if alert
    ]
    return GatedAlerts(shown, disclosures)


@lru_cache(maxsize=1024)
def alert_shape(controllers: tuple[str, ...]) -> Shape:
    """The items of a person's alerts as the gate decides on them, for alerts of these
    controllers in turn: each alert's appointment, then the person's details within it (sent
    only with the appointment). Made once per sequence of controllers."""
    shape: list[tuple[DataCategory, str, int | None]] = []
    for controller in controllers:
        shape.append((DataCategory.APPOINTMENTS, controller, None))
        shape.append((DataCategory.DEMOGRAPHICS, controller, len(shape) - 1))
    return tuple(shape)
