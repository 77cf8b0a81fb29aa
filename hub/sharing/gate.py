"""The gate every outgoing path passes: decide per item, release what is permitted, and build
the disclosure record that must be written before the released data leaves.

Projections hand the gate *items*: a value with the data category it holds and the organisation
that controls it. The gate asks :func:`hub.sharing.policy.decide` once per (category,
controller) and returns the permitted values plus the :class:`Disclosure`. Items that are
denied or held for review are left out: a partner sees less, never more. Pure; the shell
records the disclosure (durably, in Kafka) and only then sends the data.

:func:`release` is :func:`plan` (the decisions, and the disclosure validated) then
:func:`release_planned` (the values, and this release's copy of the disclosure): a plan
depends on the items' shape, not their values, so the cached facts keep the plans made of them
(:mod:`hub.sharing.memo`) and a read of the same shape decides nothing again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

from hub.disclosures import Channel, DisclosedItem, Disclosure, WithheldItem
from hub.sharing.agreement import Agreement
from hub.sharing.facts import SharingFacts
from hub.sharing.policy import Decision, Recipient, Request, Subject, Verdict, decide
from hub.vocabulary import DataCategory, Purpose

T = TypeVar("T")


@dataclass(frozen=True)
class Item(Generic[T]):
    """A piece of a view. ``within``: the index of the item it is part of (a person's details
    inside an alert); it is released only with that item, so the log never records as disclosed
    something that was not sent."""

    category: DataCategory
    controller: str
    value: T
    within: int | None = None


@dataclass(frozen=True)
class Release(Generic[T]):
    released: tuple[T, ...]
    disclosure: Disclosure | None  # None when nothing was released and nothing withheld


# What the gate decides on of an item: its category, controller and the item it is part of.
Shape = tuple[tuple[DataCategory, str, int | None], ...]


def shape_of(items: Sequence[Item[T]]) -> Shape:
    return tuple((item.category, item.controller, item.within) for item in items)


@dataclass(frozen=True)
class Plan:
    """What the gate decided of items of one :data:`Shape`: which are sent, and the disclosure
    that sending them makes, validated once (``template``: its id, time and reference are the
    first release's; :func:`release_planned` gives each release its own). The same for every
    release of that shape to the same recipient, purpose, subject and channel while the facts
    and the window of time between their instants are the same
    (:func:`hub.sharing.policy.changes_at`), so :class:`hub.sharing.memo.DecisionMemo` keeps it."""

    sent: tuple[bool, ...]
    template: Disclosure | None  # None when nothing was released and nothing withheld


def plan(
    agreement: Agreement,
    facts: SharingFacts,
    *,
    recipient: Recipient,
    purpose: Purpose,
    subject: Subject,
    at: datetime,
    shape: Shape,
    channel: Channel,
) -> Plan:
    """Decide every item of ``shape``; which are sent, and the disclosure sending them makes.

    One pass over the items: each (category, controller) is decided once, and what the
    disclosure says of it is built when it is first met.
    """
    decided: dict[tuple[DataCategory, str], Decision] = {}
    sent: list[bool] = []  # per item: released?
    disclosed: dict[tuple[DataCategory, str], DisclosedItem] = {}
    withheld: dict[tuple[DataCategory, str], WithheldItem] = {}
    for category, controller, within in shape:
        key = (category, controller)
        decision = decided.get(key)
        if decision is None:
            request = Request(recipient, purpose, category, subject, controller, at)
            decision = decided[key] = decide(agreement, facts, request)
        permitted = decision.outcome is Verdict.PERMIT
        if permitted and within is not None and not sent[within]:
            permitted = False
            decision = Decision(
                Verdict.DENY,
                "not sent: part of an item that was withheld",
                None,
                decision.agreement_version,
            )
        sent.append(permitted)
        if permitted:
            if decision.basis is not None and key not in disclosed:
                disclosed[key] = DisclosedItem(
                    category=category,
                    controller=controller,
                    basis=decision.basis,
                    authority=decision.authority,
                )
        elif key not in withheld:
            withheld[key] = WithheldItem(
                category=category,
                controller=controller,
                outcome=decision.outcome,
                reason=decision.reason,
            )
    for key in disclosed:
        withheld.pop(key, None)
    template = None
    if decided:
        template = Disclosure(
            disclosure_id=_PLANNED,
            disclosed_at=at,
            channel=channel,
            recipient_organisation=recipient.organisation_code,
            recipient_role=recipient.role,
            recipient_user=recipient.user_id,
            subject_key=subject.person_key,
            family_key=subject.family_key,
            purpose=purpose,
            items=tuple(disclosed.values()),
            withheld=tuple(withheld.values()),
            agreement_version=agreement.version,
            reference="",
        )
    return Plan(tuple(sent), template)


_PLANNED: Final = uuid.UUID(int=0)  # the template's id: every release gets its own


def release_planned(
    planned: Plan,
    items: Sequence[Item[T]],
    *,
    at: datetime,
    reference: str,
    disclosure_id: uuid.UUID | None = None,
) -> Release[T]:
    """The values ``planned`` sends of ``items`` (of the shape it was made for), and the
    disclosure of this release: the plan's, with its own id, time and reference (each of the
    type the model validated, so the copy is as valid as the template)."""
    if len(items) != len(planned.sent):
        raise ValueError(f"a plan for {len(planned.sent)} items given {len(items)}")
    released = tuple(item.value for item, sent in zip(items, planned.sent, strict=True) if sent)
    return Release(
        released, disclose(planned, at=at, reference=reference, disclosure_id=disclosure_id)
    )


def disclose(
    planned: Plan, *, at: datetime, reference: str, disclosure_id: uuid.UUID | None = None
) -> Disclosure | None:
    """The disclosure of one release of ``planned``: its template with this release's own id,
    time and reference (each of the type the model validated, so the copy is as valid as the
    template). For a caller that knows the shape of its items without building them (the
    alert gate), this and :attr:`Plan.sent` are the release."""
    if at.utcoffset() is None:
        raise ValueError(f"a release must be dated with a time zone, not {at.isoformat()}")
    if planned.template is None:
        return None
    return planned.template.model_copy(
        update={
            "disclosure_id": disclosure_id or uuid.uuid4(),
            "disclosed_at": at,
            "reference": reference,
        }
    )


def release(
    agreement: Agreement,
    facts: SharingFacts,
    *,
    recipient: Recipient,
    purpose: Purpose,
    subject: Subject,
    at: datetime,
    items: Sequence[Item[T]],
    channel: Channel,
    reference: str,
    disclosure_id: uuid.UUID | None = None,
) -> Release[T]:
    """Decide every item; the values permitted, and the disclosure that releasing them makes
    (:func:`plan`, then :func:`release_planned`)."""
    planned = plan(
        agreement,
        facts,
        recipient=recipient,
        purpose=purpose,
        subject=subject,
        at=at,
        shape=shape_of(items),
        channel=channel,
    )
    return release_planned(planned, items, at=at, reference=reference, disclosure_id=disclosure_id)
