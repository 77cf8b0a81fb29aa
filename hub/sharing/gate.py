"""The gate every outgoing path passes: decide per item, release what is permitted, and build
the disclosure record that must be written before the released data leaves.

Projections hand the gate *items*: a value with the data category it holds and the organisation
that controls it. The gate asks :func:`hub.sharing.policy.decide` once per (category,
controller) and returns the permitted values plus the :class:`Disclosure`. Items that are
denied or held for review are left out: a partner sees less, never more. Pure; the shell
records the disclosure (durably, in Kafka) and only then sends the data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from hub.disclosures import Channel, DisclosedItem, Disclosure, WithheldItem
from hub.events import DataCategory, Purpose
from hub.sharing.agreement import Agreement
from hub.sharing.facts import SharingFacts
from hub.sharing.policy import Decision, Recipient, Request, Subject, Verdict, decide

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
    """Decide every item; the values permitted, and the disclosure that releasing them makes.

    One pass over the items: each (category, controller) is decided once, and what the
    disclosure says of it is built when it is first met.
    """
    decided: dict[tuple[DataCategory, str], Decision] = {}
    sent: list[bool] = []  # per item: released?
    released: list[T] = []
    disclosed: dict[tuple[DataCategory, str], DisclosedItem] = {}
    withheld: dict[tuple[DataCategory, str], WithheldItem] = {}
    for item in items:
        key = (item.category, item.controller)
        decision = decided.get(key)
        if decision is None:
            request = Request(recipient, purpose, item.category, subject, item.controller, at)
            decision = decided[key] = decide(agreement, facts, request)
        permitted = decision.outcome is Verdict.PERMIT
        if permitted and item.within is not None and not sent[item.within]:
            permitted = False
            decision = Decision(
                Verdict.DENY,
                "not sent: part of an item that was withheld",
                None,
                decision.agreement_version,
            )
        sent.append(permitted)
        if permitted:
            released.append(item.value)
            if decision.basis is not None and key not in disclosed:
                disclosed[key] = DisclosedItem(
                    category=item.category,
                    controller=item.controller,
                    basis=decision.basis,
                    authority=decision.authority,
                )
        elif key not in withheld:
            withheld[key] = WithheldItem(
                category=item.category,
                controller=item.controller,
                outcome=decision.outcome,
                reason=decision.reason,
            )
    for key in disclosed:
        withheld.pop(key, None)
    disclosure = None
    if decided:
        disclosure = Disclosure(
            disclosure_id=disclosure_id or uuid.uuid4(),
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
            reference=reference,
        )
    return Release(tuple(released), disclosure)
