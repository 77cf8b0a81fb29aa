"""The OpenAPI document says what a person key and an appointment id are, on every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.http.app import create_api
from hub.identifiers import APPOINTMENT_ID_DESCRIPTION, PERSON_KEY_DESCRIPTION
from hub.settings import Settings


def spec(tmp_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = create_api(
        Settings(state_dir=tmp_path, kafka_bootstrap_servers="x:1")
    ).openapi()
    return document


def test_every_person_route_describes_its_key(tmp_path: Path) -> None:
    described = []
    for path, operations in spec(tmp_path)["paths"].items():
        if not path.startswith("/people/{"):
            continue
        for method, operation in operations.items():
            [person] = [p for p in operation["parameters"] if p["in"] == "path"]
            assert person.get("description") == PERSON_KEY_DESCRIPTION, f"{method} {path}"
            described.append(path)
    assert len(described) >= 4  # alerts, team, disclosures, erasure


def test_every_appointment_id_shown_is_described(tmp_path: Path) -> None:
    schemas = spec(tmp_path)["components"]["schemas"]
    shown = {
        name: s["properties"]["appointment_id"]
        for name, s in schemas.items()
        if "appointment_id" in s.get("properties", {})
    }
    assert shown
    for name, field in shown.items():
        assert field.get("description") == APPOINTMENT_ID_DESCRIPTION, name
