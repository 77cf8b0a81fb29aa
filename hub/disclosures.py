"""The disclosure record: what left the hub, to whom, about whom, why, and on which basis.

Every outgoing path writes one through :mod:`hub.sharing.gate` before the data leaves, to the
``hub.disclosures.v1`` topic (Avro, ``schemas/avro/disclosure.avsc``); the worker folds the topic
into the disclosure store that answers "who has seen data about this person". Withheld items are
recorded too, so an auditor sees what the policy refused as well as what it released.

After an erasure the record is kept without the person (:func:`without_subject`, ADR 0020):
who was shown which categories, when, on which basis, under the erasure's id.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import AwareDatetime

from hub.log_redaction import redact_path
from hub.payloads import FrozenModel
from hub.vocabulary import DataCategory, LawfulBasis, Purpose


class Channel(StrEnum):
    API = "API"
    ALERT = "ALERT"
    WEBHOOK = "WEBHOOK"
    PARTNER_TOPIC = "PARTNER_TOPIC"
    EXPORT = "EXPORT"
    NOTIFICATION = "NOTIFICATION"


class DisclosedItem(FrozenModel):
    category: DataCategory
    controller: str
    basis: LawfulBasis
    authority: str | None = None


class WithheldItem(FrozenModel):
    category: DataCategory
    controller: str
    outcome: str
    reason: str


class AggregateRelease(FrozenModel):
    """What an aggregate disclosure released (ADR 0031): a report of counts about no one person,
    every figure through statistical disclosure control under the rule named."""

    report: str  # e.g. "outcomes"
    scope: str  # e.g. the programme
    figures: int
    hidden: int  # figures suppressed
    rule: str  # the agreement's [disclosure_control], e.g. "threshold=5 symbol=c ..."


AGGREGATE_SUBJECT_PREFIX = "aggregate:"


class Disclosure(FrozenModel):
    disclosure_id: uuid.UUID
    disclosed_at: AwareDatetime
    channel: Channel
    recipient_organisation: str
    recipient_role: str
    recipient_user: str
    subject_key: str
    family_key: str | None = None
    purpose: Purpose
    items: tuple[DisclosedItem, ...]
    withheld: tuple[WithheldItem, ...] = ()
    agreement_version: str
    reference: str
    aggregate: AggregateRelease | None = None  # an aggregate disclosure: subject "aggregate:..."


def without_subject(disclosure: Disclosure, erasure_id: uuid.UUID) -> Disclosure:
    """What the accountability record keeps of a disclosure about a person since erased: the
    recipient, time, channel, purpose and items, under ``erased:<erasure id>`` instead of the
    person's identifier, without the family and with the person key cut from the reference."""
    return disclosure.model_copy(
        update={
            "subject_key": f"erased:{erasure_id}",
            "family_key": None,
            "reference": redact_path(disclosure.reference),
        }
    )
