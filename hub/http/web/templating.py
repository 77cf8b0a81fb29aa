"""What the hub's pages share: the Jinja2 templates (with UK time) and the same-origin check."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Times are stored in UTC; a midwife reads them in UK time.
UK = ZoneInfo("Europe/London")
TEMPLATES.env.filters["uk"] = lambda moment: moment.astimezone(UK)


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict too)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise HTTPException(403, f"a form from {origin} may not change anything here")
