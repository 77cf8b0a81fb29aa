"""An evaluation's pseudonymised extract: released per person through the sharing gate, under a
``SERVICE_EVALUATION`` flow of the agreement, each release recorded, keyed by the evaluation.

:func:`evaluation_extract` is the one path (``hub outcomes extract``). The reader must be an
``EVALUATOR`` (:data:`hub.sharing.agreement.EVALUATION_ROLES`); each episode's row is released
only if the gate permits every category the row is counted from (the agreement's flow, and any
consent or override facts of the person) — else it is left out, withheld on record. Every
released row's disclosure is written to the disclosure log before the extract is returned.

The evaluation's key (:func:`evaluation_key`) is 32 random bytes in a file of its own under the
state directory (0600): the pseudonyms are HMACs under it, so deleting the file ends the link
between the extract and the hub for good, and two evaluations never share a key.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hub.disclosures import Channel, Disclosure, WithheldItem
from hub.outcomes.extract import episode_identifier, extract_rows, pseudonym
from hub.outcomes.fold import merge_people
from hub.outcomes.store import OutcomesStore
from hub.services.errors import ForbiddenError, NotFoundError, UnprocessableError
from hub.services.release import SharingContext
from hub.services.statements import record_disclosures
from hub.sharing.agreement import EVALUATION_ROLES
from hub.sharing.gate import Item
from hub.sharing.policy import Recipient, Subject
from hub.vocabulary import DataCategory, Purpose

NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
# What a row is counted from: programme facts, appointments, plans, scores, circumstances.
ROW_CATEGORIES: tuple[DataCategory, ...] = (
    DataCategory.PRACTITIONER_ALLOCATION,
    DataCategory.APPOINTMENTS,
    DataCategory.SOCIAL_CARE_PLANS,
    DataCategory.ASSESSMENT_SCORES,
    DataCategory.SAFEGUARDING,
)


@dataclass(frozen=True)
class Extract:
    rows: list[dict[str, str]]
    withheld: int  # episodes the gate did not release


def evaluation_key(state_dir: Path, evaluation: str, *, create: bool) -> bytes:
    """The evaluation's key, made (0600) on first use when ``create``; :class:`NotFoundError`
    when it is gone (destroyed: the link is ended) and not to be made."""
    if not NAME.fullmatch(evaluation):
        raise UnprocessableError(
            f"evaluation name {evaluation!r}: lower-case letters, digits and '-', 2 to 63",
            evaluation,
        )
    path = state_dir / "evaluation-keys" / f"{evaluation}.key"
    if path.exists():
        return path.read_bytes()
    if not create:
        raise NotFoundError(f"no key for evaluation {evaluation!r} (destroyed, or never made)")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key)
    return key


async def evaluation_extract(
    store: OutcomesStore,
    context: SharingContext,
    reader: Recipient,
    programme: str,
    *,
    evaluation: str,
    key: bytes,
    as_of: date | None = None,
    progress: Callable[[int, int], None] = lambda done, of: None,
) -> Extract:
    """The extract for ``reader`` (the module's docstring); ``progress(done, of)`` per episode."""
    if reader.role not in EVALUATION_ROLES:
        raise ForbiddenError(f"only {sorted(EVALUATION_ROLES)} receive an evaluation's extract")
    records = merge_people(await asyncio.to_thread(store.records))
    now = context.clock()
    rows = extract_rows(
        records, programme, key=key, evaluation=evaluation, as_of=as_of or now.date()
    )
    if not rows:
        raise NotFoundError(f"the hub holds no episodes of {programme!r}")
    episodes = [
        (person, episode)
        for person in records
        for episode in person.episodes.values()
        if episode.programme == programme
    ]
    by_row = {row["episode"]: row for row in rows}
    released: list[dict[str, str]] = []
    disclosures: list[Disclosure] = []
    reference = f"hub outcomes extract --evaluation {evaluation}"
    for done, (person, episode) in enumerate(episodes, start=1):
        row = by_row[pseudonym(key, evaluation, episode_identifier(person, episode))]
        items = [Item(category, episode.organisation, row) for category in ROW_CATEGORIES]
        outcome = context.gate.release(
            reader,
            Subject(person.subject_key),
            items,
            channel=Channel.EXPORT,
            purpose=Purpose.SERVICE_EVALUATION,
            reference=reference,
            also=person.identifier_keys,
        )
        whole = len(outcome.released) == len(items)
        if whole:
            released.append(row)
        if outcome.disclosure is not None:
            disclosures.append(outcome.disclosure if whole else _nothing_sent(outcome.disclosure))
        progress(done, len(episodes))
    await record_disclosures(context, disclosures)
    return Extract(rows=released, withheld=len(episodes) - len(released))


def _nothing_sent(disclosure: Disclosure) -> Disclosure:
    """A row is released whole or not at all: what the gate permitted of a row it did not
    release whole is recorded as withheld, so the log never says disclosed what was not sent."""
    kept = tuple(
        WithheldItem(
            category=item.category,
            controller=item.controller,
            outcome="DENY",
            reason="an extract row is released whole or not at all",
        )
        for item in disclosure.items
    )
    return disclosure.model_copy(update={"items": (), "withheld": (*disclosure.withheld, *kept)})
