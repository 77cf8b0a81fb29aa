"""What every FHIR R4 mapping shares: the connector shape, parsing with fhir.resources, error
locations, NHS numbers.

Each resource type the hub takes is a message connector (:class:`FhirResourceConnector`, one
per module of this package); :mod:`hub.connectors.fhir.bundle` dispatches to them, for one
resource and for each entry of a Bundle. Every refusal is a
:class:`~hub.connectors.sdk.RecordError` whose issues are (FHIRPath-style location, message)
— the OperationOutcome's ``expression`` and ``diagnostics`` — and ``unreadable`` when the
body is not JSON at all (400 rather than 422).

fhir.resources' R4B models are used for R4 payloads: the resources the hub takes (Patient,
Appointment, Encounter, Bundle, Parameters) did not change between R4 and R4B in the elements
read here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, cast

from pydantic import BaseModel, ValidationError

from hub.connectors.messages import MessageConnector
from hub.connectors.sdk import RecordError
from hub.connectors.sources import PractitionerRoles
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.payloads import NHS_NUMBER_SYSTEM

SOURCE_SYSTEM = "fhir-r4"
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class FhirSender:
    """What the FHIR channel knows of a sender that its resources do not say: the
    authenticated client's organisation (its events are recorded as from it) and that
    organisation's practitioner roles (``[practitioner_roles]`` of its config/sources file) and
    identifier systems."""

    organisation_code: str
    roles: PractitionerRoles = field(default_factory=PractitionerRoles)
    # Identifier systems of its source file (``identifier_systems``): a Patient identified by
    # one of them (a health board's PAS number) is taken before its NHS number arrives.
    identifier_systems: frozenset[str] = frozenset()


class FhirResourceConnector(MessageConnector[R, FhirSender]):
    """One FHIR resource type: :meth:`read` validates a JSON body as it, :meth:`map` (each
    subclass's) turns it into case-events. ``/fhir/{resource_type}`` is its channel, and a
    Bundle's entries of that type."""

    resource_type: ClassVar[str]
    model: ClassVar[type[BaseModel]]
    channels = ("fhir-rest",)

    def read(self, raw: bytes) -> R:
        return self.parse(load_json(raw, self.resource_type))

    def parse(self, data: dict[str, Any]) -> R:
        """A resource already read as JSON (a Bundle entry's), validated."""
        return cast(R, validate(data, self.model))


def load_json(body: bytes, label: str = "body") -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError([(label, f"body is not JSON: {error}")], unreadable=True) from None
    except RecursionError:  # nesting deeper than the interpreter's stack: not a FHIR resource
        raise RecordError([(label, "body is nested too deeply")], unreadable=True) from None
    if not isinstance(data, dict):
        raise RecordError([(label, f"expected a JSON object, got {type(data).__name__}")])
    return data


def validate(data: dict[str, Any], model: type[R], prefix: str = "") -> R:
    """A fhir.resources model of ``data``, or RecordError naming each invalid element."""
    name = model.__name__
    root = prefix or name
    if data.get("resourceType") != name:
        where = f"{prefix}.resourceType" if prefix else "resourceType"
        raise RecordError([(where, f"expected {name!r}, got {data.get('resourceType')!r}")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RecordError([(fhirpath(root, e["loc"]), e["msg"]) for e in error.errors()]) from None


def fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def nhs_number(identifier: Any, location: str, issues: list[tuple[str, str]]) -> str | None:
    """The NHS number of an Identifier (system https://fhir.nhs.uk/Id/nhs-number), checked."""
    if identifier is None or identifier.system != NHS_NUMBER_SYSTEM or not identifier.value:
        issues.append((location, f"the patient must be identified by system {NHS_NUMBER_SYSTEM}"))
        return None
    value = normalise_nhs_number(identifier.value)
    if not is_valid_nhs_number(value):
        issues.append((location, f"{identifier.value!r} is not a valid NHS number (modulus 11)"))
        return None
    return value


def as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def last_updated(resource: Any, default: datetime) -> datetime:
    if resource.meta is not None and resource.meta.lastUpdated is not None:
        return as_utc(resource.meta.lastUpdated)
    return default


def content_digest(resource: BaseModel) -> str:
    """Identical content, identical digest: a re-sent resource is recognised."""
    canonical = json.dumps(resource.model_dump(mode="json", exclude_none=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
