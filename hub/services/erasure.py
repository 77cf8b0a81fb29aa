"""Erasing a person from the hub by destroying their keys (ADR 0009).

The order is what makes it safe: the keys are destroyed first (from that commit nothing sealed
with them opens, in any process), then one ``SubjectErased`` marker per key is published to the
key's partition, behind all of that key's events; the worker deletes the projections' rows when
it reaches each marker. If publishing fails the caller is told so
(:class:`~hub.services.errors.NotRecordedError`), and asking again re-publishes the markers of
keys already destroyed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.sealing import erasure_marker
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.services.errors import ForbiddenError, NotFoundError, NotRecordedError
from hub.sharing.agreement import ERASURE_ROLES, Agreement
from hub.sharing.policy import Recipient


@dataclass(frozen=True)
class Erased:
    erasure_id: uuid.UUID
    identifiers: int  # identifier keys of the person that were erased
    keys_destroyed: int  # data keys destroyed (markers published)


async def erase_person(
    agreement: Agreement,
    identity: IdentityStore,
    keys: SubjectKeyStore,
    sink: CaseEventSink,
    clock: Callable[[], datetime],
    reader: Recipient,
    person_key: str,
    reason: str,
) -> Erased:
    """Destroy every data key of the person ``person_key`` names, then publish the markers.

    Decided by an erasure role of a statutory partner (:class:`ForbiddenError` otherwise);
    :class:`NotFoundError` when the hub holds nothing sealed for the person.
    """
    if not agreement.is_statutory(reader.organisation_code):
        raise ForbiddenError("erasure is decided by a statutory partner")
    if reader.role not in ERASURE_ROLES:
        raise ForbiddenError(f"only {sorted(ERASURE_ROLES)} erase a person")
    subjects = identity.same_person(person_key)
    now = clock()
    key_ids = keys.shred(subjects, now)
    if not key_ids:
        raise NotFoundError("the hub holds no data sealed for this person")
    erasure_id = uuid.uuid4()
    by = f"{reader.organisation_code}/{reader.user_id}"
    try:
        for key_id in key_ids:
            await sink.publish_erasure(erasure_marker(key_id, erasure_id, now, by, reason))
    except PublishError as error:
        raise NotRecordedError(
            "the keys are destroyed but the erasure markers did not reach Kafka; repeat the "
            f"request to purge the projections ({error})"
        ) from error
    return Erased(erasure_id, identifiers=len(subjects), keys_destroyed=len(key_ids))
