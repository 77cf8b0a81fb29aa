"""Identity review: a person decides what the demographic rule only proposed.

Confirming a link publishes a ``PERSON_MERGED`` statement (source system ``hub-api``, the
reviewer's organisation as source), so the merge is on the log and a replay rebuilds the same
index. Linking widens what each record's readers see of the other, so it is a change of sharing
decided by :func:`hub.sharing.changes.decide_change` (roles the agreement names; refused with
the reason otherwise) and kept in the change log. Rejecting one closes the task. Statutory
partners only: they hold the records being linked.
"""

from __future__ import annotations

from hub.identity.matching import ReviewTask
from hub.ingest.sink import CaseEventSink
from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier, PersonMerged
from hub.services.errors import ConflictError, ForbiddenError, NotFoundError
from hub.services.sharing_changes import Attempt, ChangeStores, check_change, record_change
from hub.services.statements import Stated, publish_statement
from hub.sharing.agreement import Agreement, ChangeKind
from hub.sharing.changes import Change
from hub.sharing.policy import Recipient


def statutory_only(agreement: Agreement, reader: Recipient) -> None:
    """:class:`ForbiddenError` unless the reader's organisation is a statutory partner."""
    if not agreement.is_statutory(reader.organisation_code):
        raise ForbiddenError("identity review is for statutory partners")


def identifier(key: str) -> PersonIdentifier:
    """Back from an identifier key (NHS number, or ``system|value``)."""
    system, _, value = key.rpartition("|")
    return PersonIdentifier(system=system or NHS_NUMBER_SYSTEM, value=value)


def open_reviews(stores: ChangeStores, reader: Recipient) -> list[ReviewTask]:
    """The possible matches waiting for a person's decision."""
    statutory_only(stores.agreement, reader)
    return stores.identity.open_reviews()


async def decide_review(
    stores: ChangeStores,
    sink: CaseEventSink,
    reader: Recipient,
    review_id: str,
    *,
    link: bool,
    reference: str,
) -> Stated | None:
    """Link the two persons of an open review (the merge, once the policy permits it) or keep
    them distinct; close the review either way. The merge's statement when linked.

    :class:`NotFoundError` for no such open review; :class:`ConflictError` when one of the
    persons has no identifiers left; :class:`ForbiddenError` (logged) when the policy refuses.
    """
    statutory_only(stores.agreement, reader)
    identity = stores.identity
    review = next((r for r in identity.open_reviews() if r.review_id == review_id), None)
    if review is None:
        raise NotFoundError(f"no open review {review_id}")
    stated = None
    if link:
        survivor = [identifier(k) for k in identity.keys_of(review.candidate_id)]
        merged = [identifier(k) for k in identity.keys_of(review.person_id)]
        if not survivor or not merged:
            raise ConflictError("one of the persons has no identifiers left")
        attempt = Attempt(
            reader,
            Change(ChangeKind.IDENTITY_LINK_CONFIRMED),
            survivor[0].key(),
            channel="api",
            reference=reference,
            evidence={"merged": [i.key() for i in merged]},
        )
        decision = check_change(stores, attempt)
        if not decision.permitted:  # naming no recipients, a link is never held
            record_change(stores, attempt, decision)
            raise ForbiddenError(decision.reason)
        stated = await publish_statement(
            sink, stores.clock, reader, tuple(survivor), None, PersonMerged(merged=tuple(merged))
        )
        record_change(stores, attempt, decision, event_id=stated.event_id)
    status = "LINKED" if link else "DISTINCT"
    identity.close_review(review_id, status, reader.user_id, stores.clock())
    return stated
