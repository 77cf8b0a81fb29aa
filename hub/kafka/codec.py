"""Avro at the edge: the spec'd framings that put case-events and quarantine records on Kafka.

Two framings, chosen by configuration (ADR 0003):

* **Avro single-object encoding** (the Avro 1.8+ spec): ``C3 01`` + the 8-byte little-endian
  CRC-64-AVRO fingerprint of the writer schema's canonical form + the binary body. Needs no
  service; a reader resolves the fingerprint among the schema versions it knows.
* **Confluent wire format**: ``00`` + 4-byte big-endian registry schema id + body, through
  confluent-kafka's own serializers, when a schema registry URL is configured.

Either way a message that cannot be decoded raises :class:`DecodeError` with the reason, so the
shell can dead-letter it instead of guessing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from pydantic import BaseModel

from hub.disclosures import Disclosure
from hub.events import PAYLOAD_TYPES, CaseEvent
from hub.quarantine import QuarantineRecord

SCHEMA_DIR: Final = Path(__file__).resolve().parents[2] / "schemas" / "avro"
SINGLE_OBJECT_MAGIC: Final = b"\xc3\x01"
CONFLUENT_MAGIC: Final = b"\x00"

M = TypeVar("M", bound=BaseModel)


class DecodeError(ValueError):
    """Bytes on a topic that are not a readable record of the expected schema."""


class Framing(Protocol):
    """Turns an Avro datum into framed bytes and back."""

    def encode(self, datum: Mapping[str, Any]) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


def load_schema(name: str, schema_dir: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The JSON of ``schemas/avro/<name>.avsc``."""
    path = schema_dir / f"{name}.avsc"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def schema_fingerprint(schema: Mapping[str, Any] | list[Any] | str) -> bytes:
    """CRC-64-AVRO fingerprint of the parsing canonical form, in single-object byte order."""
    parsed = fastavro.parse_schema(
        schema if isinstance(schema, str | list) else dict(schema), _write_hint=False
    )
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class SingleObjectFraming:
    """Avro single-object encoding, resolving older writer schemas by fingerprint.

    ``uuids_as_text``: decode a string with the ``uuid`` logical type as the string it is on
    the wire, not as a ``uuid.UUID`` (for a pydantic model's codec, which parses the text
    itself: at a third of the cost of fastavro's ``UUID(text)`` in Python, and an entry is
    read from the log far more often than written; ADR 0048). The Avro spec lets a reader
    ignore a logical type; the bytes read are the same, and the fingerprint is unchanged (the
    parsing canonical form has no logical types).
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        *,
        older_schemas: Iterable[Mapping[str, Any]] = (),
        uuids_as_text: bool = False,
    ) -> None:
        self._schema = fastavro.parse_schema(dict(schema))
        read = _without_uuid_type if uuids_as_text else dict
        self._reader = fastavro.parse_schema(read(schema))
        own = schema_fingerprint(schema)
        self._header = SINGLE_OBJECT_MAGIC + own
        self._writers: dict[bytes, Any] = {own: self._reader}
        for older in older_schemas:
            self._writers.setdefault(schema_fingerprint(older), fastavro.parse_schema(read(older)))

    def encode(self, datum: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        fastavro.schemaless_writer(buffer, self._schema, datum)
        return buffer.getvalue()

    def decode(self, data: bytes) -> Any:
        if len(data) < 10 or data[:2] != SINGLE_OBJECT_MAGIC:
            raise DecodeError(
                f"not Avro single-object encoded: expected marker c301, got {data[:2].hex()!r} "
                f"({len(data)} bytes)"
            )
        writer = self._writers.get(data[2:10])
        if writer is None:
            raise DecodeError(
                f"unknown writer schema fingerprint {data[2:10].hex()}: the producer used a "
                "schema version this hub does not know"
            )
        # Our own schema needs no resolution; an older one is resolved to it.
        return _read_body(data, 10, writer, None if writer is self._reader else self._reader)


def _without_uuid_type(schema: Any) -> Any:
    """``schema`` (its JSON) with every ``"logicalType": "uuid"`` left out."""
    if isinstance(schema, Mapping):
        return {
            name: _without_uuid_type(value)
            for name, value in schema.items()
            if not (name == "logicalType" and value == "uuid")
        }
    if isinstance(schema, list):
        return [_without_uuid_type(item) for item in schema]
    return schema


class ConfluentFraming:
    """The Confluent wire format, through confluent-kafka's registry-aware serializers."""

    def __init__(self, schema: Mapping[str, Any], *, registry_url: str, topic: str) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        # new_client: a real registry client, or confluent-kafka's in-memory one for mock:// URLs
        client = SchemaRegistryClient.new_client({"url": registry_url})
        schema_str = json.dumps(schema)
        self._context = SerializationContext(topic, MessageField.VALUE)
        self._serializer = AvroSerializer(client, schema_str)
        self._deserializer = AvroDeserializer(client, schema_str, return_record_name=True)

    def encode(self, datum: Mapping[str, Any]) -> bytes:
        encoded: bytes = self._serializer(datum, self._context)
        return encoded

    def decode(self, data: bytes) -> Any:
        if len(data) < 5 or data[:1] != CONFLUENT_MAGIC:
            raise DecodeError(
                f"not Confluent wire format: expected magic byte 00, got {data[:1].hex()!r}"
            )
        try:
            return self._deserializer(data, self._context)
        except Exception as error:  # the serializer raises several unrelated types
            raise DecodeError(f"undecodable Confluent-framed Avro: {error}") from error


def _read_body(data: bytes, offset: int, writer: Any, reader: Any) -> Any:
    buffer = io.BytesIO(data)
    buffer.seek(offset)
    try:
        datum = fastavro.schemaless_reader(buffer, writer, reader, return_record_name=True)
    except Exception as error:  # fastavro raises EOFError, ValueError, IndexError, ...
        raise DecodeError(f"undecodable Avro body: {type(error).__name__}: {error}") from error
    if buffer.tell() != len(data):
        raise DecodeError(f"{len(data) - buffer.tell()} trailing bytes after the Avro record")
    return datum


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively: fastavro and JSON want lists (fastavro reads a two-tuple
    in a union as a named branch). Scalars, most of a datum, are not called for one by one."""
    if isinstance(value, dict):
        return {
            key: _plain(item) if isinstance(item, _CONTAINERS) else item
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(item) if isinstance(item, _CONTAINERS) else item for item in value]
    return value


_CONTAINERS: Final = (dict, list, tuple)


NAMESPACE: Final = "org.thinkfamilyhub.events"


def case_event_to_avro(event: CaseEvent) -> dict[str, Any]:
    """The Avro datum for an event; the payload branch is named, never guessed by shape."""
    # The payload dumped by its own class: through the envelope it goes by the serializer of
    # the union of every payload, which looks for its member first (half the dump, measured).
    datum: dict[str, Any] = _plain(event.model_dump(mode="python", exclude={"payload"}))
    datum["event_id"] = str(event.event_id)
    payload = _plain(event.payload.model_dump(mode="python"))
    datum["payload"] = (f"{NAMESPACE}.{type(event.payload).__name__}", payload)
    return datum


# The payload's class by the name of its branch of the Avro union.
_PAYLOAD_RECORDS: Final[dict[str, type[BaseModel]]] = {
    f"{NAMESPACE}.{model.__name__}": model for model in PAYLOAD_TYPES.values()
}


def case_event_from_avro(datum: Mapping[str, Any]) -> CaseEvent:
    """The event from fastavro's datum in one validation: the payload is built as the class
    its union branch names (what :func:`case_event_to_avro` wrote), and the envelope's
    after-validator refuses it unless that is the class the ``event_type`` names, so a branch
    and an event type that disagree are refused, never read as either. A branch this hub does
    not know is left to the envelope's ``event_type`` to decide, as before (ADR 0048)."""
    data = dict(datum)
    payload = data.get("payload")
    if isinstance(payload, tuple):
        name, body = payload
        model = _PAYLOAD_RECORDS.get(name)
        data["payload"] = model.model_validate(body) if model and isinstance(body, dict) else body
    return CaseEvent.model_validate(data)


class ModelCodec(Generic[M]):
    """A framing plus the conversions between one pydantic model and its Avro datum."""

    def __init__(
        self,
        framing: Framing,
        to_avro: Callable[[M], Mapping[str, Any]],
        from_avro: Callable[[Mapping[str, Any]], M],
    ) -> None:
        self._framing = framing
        self._to_avro = to_avro
        self._from_avro = from_avro

    def encode(self, value: M) -> bytes:
        return self._framing.encode(self._to_avro(value))

    def decode(self, data: bytes) -> M:
        datum = self._framing.decode(data)
        try:
            return self._from_avro(datum)
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            raise DecodeError(f"decoded record breaks the contract: {error}") from error


def framing_for(name: str, topic: str, registry_url: str | None) -> Framing:
    schema = load_schema(name)
    if registry_url:
        return ConfluentFraming(schema, registry_url=registry_url, topic=topic)
    return SingleObjectFraming(schema)


@cache
def case_event_codec(topic: str, registry_url: str | None = None) -> ModelCodec[CaseEvent]:
    if registry_url:
        framing = framing_for("case_event", topic, registry_url)
    else:
        framing = SingleObjectFraming(load_schema("case_event"), uuids_as_text=True)
    return ModelCodec(framing, case_event_to_avro, case_event_from_avro)


def _model_to_avro(id_field: str) -> Callable[[BaseModel], dict[str, Any]]:
    def to_avro(value: BaseModel) -> dict[str, Any]:
        datum: dict[str, Any] = _plain(value.model_dump(mode="python"))
        datum[id_field] = str(datum[id_field])
        return datum

    return to_avro


def disclosure_from_avro(datum: Mapping[str, Any]) -> Disclosure:
    """The record; an aggregate disclosure's summary is a named branch of its union."""
    data = dict(datum)
    if isinstance(data.get("aggregate"), tuple):
        data["aggregate"] = data["aggregate"][1]
    return Disclosure.model_validate(data)


@cache
def disclosure_codec(topic: str, registry_url: str | None = None) -> ModelCodec[Disclosure]:
    return ModelCodec(
        framing_for("disclosure", topic, registry_url),
        _model_to_avro("disclosure_id"),
        disclosure_from_avro,
    )


@cache
def quarantine_codec(topic: str, registry_url: str | None = None) -> ModelCodec[QuarantineRecord]:
    return ModelCodec(
        framing_for("quarantine_record", topic, registry_url),
        _model_to_avro("quarantine_id"),
        QuarantineRecord.model_validate,
    )
