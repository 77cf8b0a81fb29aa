"""What the designated safeguarding lead and the Caldicott guardian read, and only they.

Governance roles (:data:`hub.sharing.agreement.GOVERNANCE_ROLES`) review what their
organisation's people and systems did to sharing: the changes the policy refused or held
(:func:`refused_changes`, :func:`held_changes`), the safeguarding overrides their organisation
recorded (:func:`overrides_recorded`, each through the gate and on the disclosure log before it
is answered), and who has seen data about a person (:func:`disclosure_report`, itself recorded
as an export). Each refuses any other role with :class:`~hub.services.errors.ForbiddenError`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.disclosures import Channel, Disclosure
from hub.services.change_requests import reviewable_by
from hub.services.errors import ForbiddenError, NotFoundError
from hub.services.release import SharingContext
from hub.services.sharing_changes import ChangeStores, involved_organisations
from hub.services.statements import record_disclosures
from hub.sharing.agreement import GOVERNANCE_ROLES
from hub.sharing.change_log import ChangeLog, ChangeRecord
from hub.sharing.facts import Override
from hub.sharing.gate import Item
from hub.sharing.policy import Recipient, Subject
from hub.vocabulary import DataCategory, Purpose


def governance_only(reader: Recipient, what: str) -> None:
    """:class:`ForbiddenError` unless ``reader`` has a governance role (``what`` they do)."""
    if reader.role not in GOVERNANCE_ROLES:
        raise ForbiddenError(f"only {sorted(GOVERNANCE_ROLES)} {what}")


def refused_changes(changes: ChangeLog, reader: Recipient) -> list[ChangeRecord]:
    """Every attempt by the reader's organisation that the policy refused (DENY) or held."""
    governance_only(reader, "review refused changes")
    return changes.held_or_refused(reader.organisation_code)


def held_changes(stores: ChangeStores, reader: Recipient) -> list[ChangeRecord]:
    """The held changes about people the reader's (statutory) organisation is involved with."""
    governance_only(reader, "review held changes")
    return reviewable_by(stores, reader)


async def overrides_recorded(
    context: SharingContext, reader: Recipient, *, reference: str
) -> list[Override]:
    """The overrides the reader's organisation recorded, as far as the gate releases them to
    her (purpose SAFEGUARDING), with the disclosures recorded first."""
    governance_only(reader, "review overrides")
    shown: list[Override] = []
    disclosures: list[Disclosure] = []
    for override in context.sharing.overrides_recorded_by(reader.organisation_code):
        subject = Subject(override.subject_key, override.family_key)
        item = Item(DataCategory.SAFEGUARDING, override.recorded_by_organisation, override)
        outcome = context.release(
            reader,
            subject,
            [item],
            channel=Channel.NOTIFICATION,
            purpose=Purpose.SAFEGUARDING,
            reference=reference,
        )
        if outcome.disclosure is not None:
            disclosures.append(outcome.disclosure)
        shown.extend(outcome.released)
    await record_disclosures(context, disclosures)
    return shown


@dataclass(frozen=True)
class DisclosureReport:
    """Who has seen data about a person: every disclosure and every change to her sharing."""

    subject_key: str
    generated_at: datetime
    disclosures: list[Disclosure]
    changes: list[ChangeRecord]

    def summary(self) -> list[dict[str, Any]]:
        """Per receiving organisation, the categories it was shown."""
        recipients: dict[str, set[str]] = {}
        for entry in self.disclosures:
            categories = recipients.setdefault(entry.recipient_organisation, set())
            categories.update(item.category.value for item in entry.items)
        return [
            {"organisation": org, "categories": sorted(categories)}
            for org, categories in sorted(recipients.items())
        ]


def involves(entry: Disclosure, organisation: str) -> bool:
    """Whether ``organisation`` controls data the disclosure is about (shared or withheld), or
    received some of it: who may read the person's disclosure log."""
    if entry.recipient_organisation == organisation and entry.items:
        return True
    controllers = {item.controller for item in entry.items}
    return organisation in controllers | {item.controller for item in entry.withheld}


async def disclosure_report(
    stores: ChangeStores, context: SharingContext, reader: Recipient, person_key: str
) -> DisclosureReport:
    """The person's disclosure log (under every identifier of hers: what was disclosed under a
    record merged in since) for a governance role of an organisation involved with her; the
    reading itself is recorded, as an export, before it is answered."""
    governance_only(reader, "read the disclosure log")
    keys = stores.identity.same_person(person_key)
    entries = stores.sharing.disclosures_about(keys)
    if not any(involves(entry, reader.organisation_code) for entry in entries) and (
        reader.organisation_code not in involved_organisations(stores.team, stores.alerts, keys)
    ):
        # A governance role of an organisation that holds or received nothing about this
        # person learns nothing, not even who else did (that alone can say "known to
        # children's services"): as for a person the hub does not know.
        raise NotFoundError("no disclosures about this person involving your organisation")
    now = stores.clock()
    audit = Disclosure(
        disclosure_id=uuid.uuid4(),
        disclosed_at=now,
        channel=Channel.EXPORT,
        recipient_organisation=reader.organisation_code,
        recipient_role=reader.role,
        recipient_user=reader.user_id,
        subject_key=person_key,
        purpose=Purpose.SAFEGUARDING,
        items=(),
        agreement_version=stores.agreement.version,
        reference=f"GET /people/{person_key}/disclosures",
    )
    await record_disclosures(context, [audit])
    # Every attempt to change who may see her data: applied, held or refused.
    return DisclosureReport(person_key, now, entries, stores.changes.about(keys))
