"""Who may assign or unassign a practitioner through the API: the decision, table-driven, on
the demo agreement (config/sharing/agreement.toml)."""

from __future__ import annotations

import pytest

from hub.sharing.agreement import load_agreement
from hub.sharing.policy import Recipient
from hub.team.assignments import Change, may_change_team
from hub.vocabulary import PractitionerRole

AGREEMENT = load_agreement()
MIDWIFE = PractitionerRole.COMMUNITY_MIDWIFE
A, U = Change.ASSIGN, Change.UNASSIGN


def actor(organisation: str, role: str = "COMMUNITY_MIDWIFE") -> Recipient:
    return Recipient(organisation_code=organisation, role=role, user_id="u-1")


@pytest.mark.parametrize(
    ("who", "change", "organisation", "role", "status"),
    [
        # statutory partners' practitioners assign
        (actor("R0A"), A, "R0A", MIDWIFE, 202),
        (actor("355", "SOCIAL_WORKER"), A, "R0A", MIDWIFE, 202),
        (actor("355", "SOCIAL_WORKER"), A, "355", PractitionerRole.SOCIAL_WORKER, 202),
        (
            actor("352", "DESIGNATED_SAFEGUARDING_LEAD"),
            A,
            "352",
            PractitionerRole.LEAD_PRACTITIONER,
            202,
        ),
        (actor("R0A"), A, "VCS-HOMESTART-SALFORD", PractitionerRole.KEY_WORKER, 202),
        (actor("R0A"), U, "R0A", MIDWIFE, 202),
        # a charity, an organisation outside the agreement, a machine client: not through here
        (
            actor("VCS-HOMESTART-SALFORD", "KEY_WORKER"),
            A,
            "VCS-HOMESTART-SALFORD",
            PractitionerRole.KEY_WORKER,
            403,
        ),
        (actor("VCS-WOMENSAID-MCR", "KEY_WORKER"), A, "R0A", MIDWIFE, 403),
        (actor("RXX"), A, "RXX", MIDWIFE, 403),
        (actor("R0A", "PARTNER_SYSTEM"), A, "R0A", MIDWIFE, 403),
        # nobody ends another organisation's practitioner's assignment
        (actor("355", "SOCIAL_WORKER"), U, "R0A", MIDWIFE, 403),
        (actor("RM3"), U, "R0A", MIDWIFE, 403),
        # the practitioner named must be of a party, and a midwife of an NHS one
        (actor("R0A"), A, "RXX", MIDWIFE, 422),
        (actor("R0A"), A, "355", MIDWIFE, 422),
        (actor("R0A"), A, "VCS-HOMESTART-SALFORD", PractitionerRole.HEALTH_VISITOR, 422),
    ],
)
def test_who_may_change_the_team(
    who: Recipient, change: Change, organisation: str, role: PractitionerRole, status: int
) -> None:
    decision = may_change_team(AGREEMENT, who, change, organisation, role)
    assert (decision.allowed, decision.status) == (status == 202, status), decision.reason
    assert decision.reason  # a refusal says why


def test_the_routes_document_every_status_they_answer() -> None:
    from fastapi import FastAPI

    from hub.http.assignments import assignments_router

    app = FastAPI()
    app.include_router(assignments_router())
    paths = app.openapi()["paths"]
    for path in ("/team/assignments", "/team/unassignments"):
        assert set(paths[path]["post"]["responses"]) == {"202", "401", "403", "422", "503"}
