"""The OpenAPI document declares how every operation refuses, so a new route cannot forget.

``tests/e2e/test_openapi_fuzz.py`` holds the running API to the document; this holds the
document to the rules of ``hub/http/openapi.py``: 401 on every route but the public ones,
422 wherever a route takes parameters or a body, and a schema for every error body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hub.http.app import create_api
from hub.settings import Settings
from tests.e2e.test_authentication import PUBLIC

# Refuses bad input with 400, as RFC 6749 section 5.2 says a token endpoint does.
INPUT_REFUSED_WITH_400 = {("POST", "/oauth2/token")}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    document = create_api(Settings()).openapi()
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            yield method.upper(), path, operation


OPERATIONS = sorted(operations(), key=lambda found: (found[1], found[0]))
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def test_the_document_lists_the_api() -> None:
    assert len(OPERATIONS) >= 25, IDS


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_route_but_the_public_ones_documents_401(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    if (method, path) in PUBLIC:
        return
    assert "401" in operation["responses"], f"{method} {path} does not document its 401"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_route_that_takes_input_documents_how_it_refuses_it(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    if not (operation.get("parameters") or operation.get("requestBody")):
        return
    refusal = "400" if (method, path) in INPUT_REFUSED_WITH_400 else "422"
    assert refusal in operation["responses"], f"{method} {path} does not document {refusal}"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_error_has_a_body_schema(method: str, path: str, operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        if int(status) < 400:
            continue
        content = response.get("content", {})
        assert content, f"{method} {path} {status}: no content declared"
        for media_type, declared in content.items():
            assert declared.get("schema"), f"{method} {path} {status} {media_type}: no schema"
        expected = "application/fhir+json" if path.startswith("/fhir") else "application/json"
        assert set(content) == {expected}, f"{method} {path} {status}: {sorted(content)}"
