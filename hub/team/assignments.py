"""Who may assign a practitioner to a person or family through the API, as a pure decision.

The API is for a statutory partner's practitioner: a client of an NHS or LOCAL_AUTHORITY party
to the agreement. A voluntary organisation names its key workers by its own connector (the
signed activity webhook), and an organisation outside the agreement names nobody. Every
practitioner named is (organisation, id), and the organisation must be a party, so nobody is
addressed alerts on behalf of an organisation the agreement does not know.

Ending an assignment silences alerts to that practitioner, so only their own organisation may
end it: a council cannot stop the trust's named midwife hearing of a no-show.

This decision is about *changing* the team; whether anyone may then *see* an alert is the
sharing policy's, at delivery (ADR 0007).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hub.sharing.agreement import GOVERNANCE_ROLES, Agreement, OrganisationKind
from hub.sharing.policy import Recipient
from hub.vocabulary import MIDWIFE_ROLES, PractitionerRole

STATUTORY: Final = frozenset({OrganisationKind.NHS, OrganisationKind.LOCAL_AUTHORITY})
# Roles that only a health organisation employs.
HEALTH_ROLES: Final = frozenset(
    {
        *MIDWIFE_ROLES,
        PractitionerRole.SAFEGUARDING_MIDWIFE,
        PractitionerRole.HEALTH_VISITOR,
        PractitionerRole.GP,
        PractitionerRole.CONSULTANT,
    }
)
# Who acts: a person in a role, not a partner system's machine client.
ACTING_ROLES: Final = frozenset({*(r.value for r in PractitionerRole), *GOVERNANCE_ROLES})


class Change(StrEnum):
    ASSIGN = "ASSIGN"
    UNASSIGN = "UNASSIGN"


@dataclass(frozen=True)
class Decision:
    """``status`` is the HTTP answer when refused: 403 (who asks), 422 (what is asked)."""

    allowed: bool
    reason: str
    status: int = 202


def _refuse(status: int, reason: str) -> Decision:
    return Decision(False, reason, status)


def may_change_team(
    agreement: Agreement,
    actor: Recipient,
    change: Change,
    practitioner_organisation: str,
    role: PractitionerRole,
) -> Decision:
    """Whether ``actor`` may assign (or unassign) a practitioner of ``practitioner_organisation``
    in ``role``."""
    party = agreement.organisations.get(actor.organisation_code)
    if party is None:
        return _refuse(403, f"{actor.organisation_code!r} is not a party to the agreement")
    if party.kind not in STATUTORY:
        return _refuse(
            403,
            f"{actor.organisation_code!r} is a {party.kind.value.lower()} organisation: only an "
            "NHS or local-authority partner assigns through the API (a charity names its key "
            "workers by its activity feed)",
        )
    if actor.role not in ACTING_ROLES:
        return _refuse(403, f"role {actor.role!r} does not assign practitioners")
    named = agreement.organisations.get(practitioner_organisation)
    if named is None:
        return _refuse(
            422,
            f"the practitioner's organisation {practitioner_organisation!r} is not a party "
            "to the agreement",
        )
    if role in HEALTH_ROLES and named.kind is not OrganisationKind.NHS:
        return _refuse(
            422,
            f"a {role.value} is employed by an NHS organisation, not "
            f"{practitioner_organisation!r} ({named.kind.value})",
        )
    if change is Change.UNASSIGN and practitioner_organisation != actor.organisation_code:
        return _refuse(
            403,
            f"only {practitioner_organisation!r} ends its own practitioners' assignments",
        )
    return Decision(True, f"{actor.organisation_code} is a statutory partner")
