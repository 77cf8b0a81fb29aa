"""Who a practitioner is: an organisation and the id that organisation gave them.

A practitioner id alone names nobody: ids come from each partner's own systems (an HL7 AIP-3,
a webhook's ``worker_id``, a client's user id), so a council social worker and a charity key
worker can both be ``kw-7``. Everywhere the hub addresses, compares or records a practitioner
— alert recipients and escalation targets, who acknowledged or closed an alert, a reader's own
inbox, stream and caseload, who recorded a sharing fact — it uses :class:`PractitionerRef`,
never a bare id and never a string joined from the two.
"""

from __future__ import annotations

from pydantic import Field

from hub.events import CaseEvent
from hub.payloads import FrozenModel


class PractitionerRef(FrozenModel):
    """A practitioner as (organisation, id): equal only when both are. Hashable, so sets of
    recipients compare whole identities."""

    organisation_code: str = Field(min_length=1, description="ODS / council / charity code.")
    practitioner_id: str = Field(
        min_length=1, description="The organisation's user id: unique within it only."
    )

    def __str__(self) -> str:
        """For messages only (never a key): ``kw-7 of CHARITY1``."""
        return f"{self.practitioner_id} of {self.organisation_code}"


def sort_key(ref: PractitionerRef) -> tuple[str, str]:
    """A stable order for lists of practitioners (API answers, stored rows)."""
    return ref.organisation_code, ref.practitioner_id


def acted_by(
    event: CaseEvent, practitioner_id: str, organisation_code: str | None
) -> PractitionerRef:
    """Who an event says acted (acknowledged, closed, ended, recorded).

    ``organisation_code`` is the event's own ``*_organisation`` field; events written before it
    was on the contract have none, and are read as acting for the event source's organisation
    — which is the reader's organisation for everything the hub's API writes, and the partner's
    own for what a partner system sends.
    """
    return PractitionerRef(
        organisation_code=organisation_code or event.source.organisation_code,
        practitioner_id=practitioner_id,
    )
