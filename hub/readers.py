"""Who is reading: the recipient every API route hands to the sharing gate.

Until partner authentication lands (API keys and OAuth2 client credentials, issue 6) the caller
asserts its organisation, role and user in ``X-Hub-Organisation``, ``X-Hub-Role`` and
``X-Hub-User``. This is an *interim, trusted-network* identity: the policy decides on it
faithfully, but nothing yet proves it. A request without it is refused with 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, HTTPException

from hub.sharing.agreement import KNOWN_ROLES
from hub.sharing.policy import Recipient


def reader_identity(
    x_hub_organisation: Annotated[str | None, Header()] = None,
    x_hub_role: Annotated[str | None, Header()] = None,
    x_hub_user: Annotated[str | None, Header()] = None,
) -> Recipient:
    missing = [
        name
        for name, value in (
            ("X-Hub-Organisation", x_hub_organisation),
            ("X-Hub-Role", x_hub_role),
            ("X-Hub-User", x_hub_user),
        )
        if not value
    ]
    if missing:
        raise HTTPException(
            status_code=401,
            detail=f"who is reading? missing header(s): {', '.join(missing)}",
            headers={"WWW-Authenticate": "X-Hub-Identity"},
        )
    if x_hub_role not in KNOWN_ROLES:  # not None: checked above
        raise HTTPException(
            status_code=403, detail=f"unknown role {x_hub_role!r}; known: {sorted(KNOWN_ROLES)}"
        )
    return Recipient(x_hub_organisation or "", x_hub_role or "", x_hub_user or "")
