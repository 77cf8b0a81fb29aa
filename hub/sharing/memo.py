"""One subject's cached sharing facts, and the gate's decisions on them memoised.

A read of a person's alerts asks the gate the same questions again and again: the same reader,
purpose, subject and items of the same shape (:data:`hub.sharing.gate.Shape`). While the facts
are unchanged the answer changes only when the time passes one of the facts' own instants
(:func:`hub.sharing.policy.changes_at`), so a :class:`DecisionMemo` keeps each
:class:`hub.sharing.gate.Plan` it has made under the window of time it was made in, and a
repeated read costs a dictionary lookup and a copy of the validated disclosure instead of the
decisions and the validation of the disclosure's models.

Every read is still decided by the policy: a plan *is* :func:`hub.sharing.gate.plan`'s answer,
made by :func:`hub.sharing.policy.decide` for facts equal to these and a time in the same
window. The memo lives and dies with the cached facts (:meth:`SharingStore.current_memo`):
facts that change, an erasure, drop it with them. Pure: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Final

from hub.disclosures import Channel
from hub.sharing.agreement import Agreement
from hub.sharing.facts import SharingFacts
from hub.sharing.gate import Plan, Shape, plan
from hub.sharing.policy import Recipient, Subject, changes_at
from hub.vocabulary import Purpose

PLANS: Final = 256  # plans kept per subject at most (readers by shapes); then they start again

PlanKey = tuple[int, Recipient, Purpose, Subject, Shape, Channel, int]


class DecisionMemo:
    """A subject's facts as one process cached them, and the plans made of them so far."""

    def __init__(self, facts: SharingFacts) -> None:
        self.facts = facts
        self._instants = changes_at(facts)
        self._plans: dict[PlanKey, tuple[Agreement, Plan]] = {}

    def plan(
        self,
        agreement: Agreement,
        *,
        recipient: Recipient,
        purpose: Purpose,
        subject: Subject,
        at: datetime,
        shape: Shape,
        channel: Channel,
    ) -> Plan:
        """:func:`hub.sharing.gate.plan` of these facts: made once per window of time between
        the facts' instants (and per agreement, reader, purpose, subject, shape and channel)."""
        window = bisect_right(self._instants, at)
        key: PlanKey = (id(agreement), recipient, purpose, subject, shape, channel, window)
        kept = self._plans.get(key)
        if kept is not None and kept[0] is agreement:  # the same agreement, not a reused id
            return kept[1]
        made = plan(
            agreement,
            self.facts,
            recipient=recipient,
            purpose=purpose,
            subject=subject,
            at=at,
            shape=shape,
            channel=channel,
        )
        if len(self._plans) >= PLANS:
            self._plans.clear()
        self._plans[key] = (agreement, made)
        return made
