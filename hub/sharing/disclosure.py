"""The disclosure record: what left the hub, to whom, about whom, why, and on which basis.

Every outgoing path writes one through :mod:`hub.sharing.gate` before the data leaves, to the
``hub.disclosures.v1`` topic (Avro, ``schemas/avro/disclosure.avsc``); the worker folds the topic
into the disclosure store that answers "who has seen data about this person". Withheld items are
recorded too, so an auditor sees what the policy refused as well as what it released.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import AwareDatetime

from hub.events import DataCategory, FrozenModel, Purpose
from hub.sharing.agreement import LawfulBasis


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
