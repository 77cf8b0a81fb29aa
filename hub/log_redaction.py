"""Keeping credentials and people's identifiers out of the API's logs.

The hub never logs a header or a body, but uvicorn's access log writes each request's path
*with its query string*. Two things are replaced before the line is formatted:

* the **query** by ``?<redacted>``: a caller may put a key there (``?api_key=...``, a token in a
  link) however the documentation says not to;
* a **person key in the path** (``/people/<NHS number or system|value>/team``) by
  ``<person>``, and any NHS number written elsewhere in the path by ``<nhs-number>``: an access
  log is read by more people, and kept longer, than the records it would name, and no erasure
  reaches a log file (ADR 0020).

The route (``/people/<person>/alerts``) and the status are enough to operate the service.
Pure: :mod:`hub.http.server` installs it in uvicorn's access log; the disclosure record uses it
for the reference it keeps.
"""

from __future__ import annotations

import re

from hub.nhs_number import SHAPED, is_valid_nhs_number

# A person key is everything between /people/ and the route's last segment (keys may hold
# slashes: a FHIR system URI), or to the end when the path has no known last segment.
_PERSON = re.compile(
    r"(?P<prefix>/people/)[^?]+?(?P<suffix>/(?:alerts|team|disclosures|erasure))?$"
)

_NHS_NUMBER = re.compile(SHAPED)


def redact_path(path: str) -> str:
    """The path without its query, person keys or NHS numbers (pure)."""
    path, _, query = path.partition("?")
    path = _PERSON.sub(r"\g<prefix><person>\g<suffix>", path)
    path = _NHS_NUMBER.sub(
        lambda m: "<nhs-number>" if is_valid_nhs_number(m.group()) else m.group(), path
    )
    return f"{path}?<redacted>" if query else path
