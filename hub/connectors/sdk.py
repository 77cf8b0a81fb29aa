"""The connector SDK: what a connector is, and the helpers every connector uses.

A connector does two pure things: **read** raw input into :class:`Record` s (each with where it
came from, its raw bytes and its fields) and **map** one record to case-events, raising
:class:`RecordError` naming each bad field. Everything else — cursors, retries, publishing,
quarantine, progress — belongs to the runtime (:mod:`hub.connectors.runtime`), so a connector
written by another council is ~100 lines of translation that tests call directly, and it cannot
get delivery wrong. What mapping comes to is :mod:`hub.connectors.outcomes`.

This module's :class:`Connector` is the *batch* shape: a file (or a database view) of records.
The *message* shape — one input at a time, answered at once, as HL7 v2 over MLLP and FHIR over
REST are — is :class:`hub.connectors.messages.MessageConnector`: the same read and map, the
same :class:`RecordError`.

Connectors of both shapes are found through the ``hub.connectors`` entry-point group
(:mod:`hub.connectors.discovery`; the built-in ones register the same way, in
``pyproject.toml``), so one can ship as its own package. ``docs/connectors.md`` walks through
writing one; ``hub connector new`` scaffolds it.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.message import EmailMessage
from typing import Annotated, Any, BinaryIO, ClassVar, Final, Generic, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationError
from sqlalchemy import Connection, MetaData, Table, select

from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import FrozenModel, PersonIdentifier, Source
from hub.vocabulary import DataCategory, Sensitivity


def _known_zone(value: str) -> str:
    # ZoneInfo raises a KeyError subclass, which pydantic would let escape unreported: turn it
    # into a ValueError so the config error names the file and field like any other.
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{value!r} is not a known time zone (e.g. 'Europe/London')") from error
    return value


ZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time-zone name, checked when the configuration is read."""


class ConnectorConfig(FrozenModel):
    """What every connector instance needs: whose records these are, and their time zone.

    A connector extends this with its own fields; ``hub connector test`` validates a TOML file
    against it and names each bad field.
    """

    system: str = Field(min_length=1, description="The hub's name for the source system.")
    organisation_code: str = Field(
        min_length=1, description="ODS / council / charity code of the organisation that owns it."
    )
    timezone: ZoneName = Field(
        default="Europe/London", description="Zone of dates and times without an offset."
    )


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


@dataclass(frozen=True, slots=True)
class Record:
    """One unit of raw input.

    ``key`` is the record's identity across extracts (e.g. child id + episode start): the cursor
    recognises an unchanged, changed or disappeared record by it. ``location`` says where it is
    (``file:line``) for error reports; ``raw`` is kept verbatim for quarantine. A message
    connector's input is a record too (:func:`hub.connectors.messages.message_record`), without
    fields: its connector reads the raw bytes itself.
    """

    location: str
    key: str
    raw: bytes
    fields: Mapping[str, str]
    # A CSV row's header: its raw line alone says nothing of its columns (ADR 0030).
    header: tuple[str, ...] = ()
    # How ``raw`` is read again on its own, where its header does not say (a webhook's id).
    content_type: str | None = None

    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def csv_row_type(header: Sequence[str]) -> str:
    """The content type of a CSV row kept without its file: ``text/csv`` (RFC 4180) with
    ``header=absent`` and the columns, so the row can be read again on its own (ADR 0030)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(header)  # a name may hold a comma or a quote
    return _media_type("text/csv", header="absent", columns=line.getvalue())


def csv_row_columns(content_type: str | None) -> tuple[str, ...] | None:
    """The columns :func:`csv_row_type` wrote, or None for any other content type."""
    columns = _parameter(content_type, "text/csv", "columns")
    return None if columns is None else tuple(next(csv.reader([columns])))


def webhook_type(message_id: str) -> str:
    """The content type of a refused webhook body: JSON with the ``webhook-id`` it came with,
    which its record's key falls back to and the body alone does not hold (ADR 0030)."""
    return _media_type("application/json", **{"webhook-id": message_id})


def webhook_message_id(content_type: str | None) -> str | None:
    """The ``webhook-id`` :func:`webhook_type` wrote, or None for any other content type."""
    return _parameter(content_type, "application/json", "webhook-id")


def _media_type(media: str, **parameters: str) -> str:
    message = EmailMessage()
    message["content-type"] = media
    for name, value in parameters.items():
        message.set_param(name, value)
    return str(message["content-type"])


def _parameter(content_type: str | None, media: str, name: str) -> str | None:
    if not content_type:
        return None
    message = EmailMessage()
    message["content-type"] = content_type
    value = message.get_param(name)
    if message.get_content_type() != media or not isinstance(value, str):
        return None
    return value


class RecordError(ValueError):
    """Input the hub does not take: ``issues`` are (field, message) pairs, each naming where.

    The one refusal of every connector, batch or message. ``unreadable`` says the input is not
    in its format at all (not JSON, not HL7 v2) rather than readable with fields that are
    wrong; channels answer the two differently (FHIR: 400 and 422). A channel whose answer
    says more than the issues raises a subclass that carries it (HL7 v2's acknowledgement
    code and error codes: :class:`hub.connectors.hl7v2.mapping.Hl7RecordError`).
    """

    def __init__(self, issues: Sequence[tuple[str, str]], *, unreadable: bool = False) -> None:
        self.issues = list(issues)
        self.unreadable = unreadable
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.issues))


class InputError(ValueError):
    """The input as a whole is unusable (wrong columns, not the format): nothing is read."""


class Connector(ABC, Generic[ConfigT]):
    """Subclass this, set the class attributes, implement :meth:`map` (and :meth:`read` when the
    input is not a CSV file with a header row)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]]
    example_config: ClassVar[Mapping[str, Any]]
    # Where its input comes from, as ``hub connector list`` shows it and quarantine records
    # name it: ``extract`` (``hub connector run``: a file or view), ``upload`` / ``webhook``
    # (a partner's, configured in config/partners/).
    channels: ClassVar[tuple[str, ...]] = ("extract",)
    # Media types a partner's upload of this connector's input may be sent as (``upload``).
    upload_types: ClassVar[tuple[str, ...]] = ("text/csv",)
    # Columns that identify a row across extracts, and those a row must have.
    key_columns: ClassVar[tuple[str, ...]] = ()
    required_columns: ClassVar[tuple[str, ...]] = ()

    def read(self, stream: BinaryIO, name: str) -> Iterator[Record]:
        """Records of one input file; the default reads CSV with a header row."""
        return read_csv(stream, name, self.key_columns, self.required_columns)

    def read_with(self, stream: BinaryIO, name: str, config: ConfigT) -> Iterator[Record]:
        """Records of one input file read as ``config`` says: what the runtime, the dry run,
        uploads and the conformance suite call. The default is :meth:`read`, which needs no
        configuration; a connector whose columns, sheet and key are configuration rather than
        code (:mod:`hub.connectors.tabular`) overrides this instead."""
        return self.read(stream, name)

    def read_kept(self, stream: BinaryIO, name: str, config: ConfigT) -> Iterator[Record]:
        """Records of an input the hub kept (a refused CSV row under its header, for the error
        queue to map again): :meth:`read_with`, but the text is UTF-8 whatever the file's own
        encoding was, as :func:`read_csv` keeps every row's raw line. A connector whose
        encoding is configuration (:mod:`hub.connectors.tabular`) overrides this to read it so."""
        return self.read_with(stream, name, config)

    @abstractmethod
    def map(self, record: Record, config: ConfigT, recorded_at: datetime) -> list[CaseEvent]:
        """The case-events one record means; raise :class:`RecordError` naming each bad field.

        ``recorded_at`` is when the hub accepted the input (the runtime passes it, so mapping
        stays a pure function of its arguments).
        """

    def config(self, values: Mapping[str, Any]) -> ConfigT:
        """Validate configuration; a bad value raises :class:`InputError` naming the field."""
        try:
            return self.config_model.model_validate(dict(values))  # type: ignore[return-value]
        except ValidationError as error:
            raise InputError(f"configuration of {self.name}: {error}") from error


# --- reading ------------------------------------------------------------------------------------


def read_csv(
    stream: BinaryIO,
    name: str,
    key_columns: Iterable[str] = (),
    required_columns: Iterable[str] = (),
    *,
    encoding: str = "utf-8-sig",
) -> Iterator[Record]:
    """Stream a CSV file with a header row, one :class:`Record` per row, in constant memory.

    Each record keeps the exact raw line(s) it came from (quoted fields may span lines), so a
    refused row is quarantined as it was sent, in UTF-8 whatever ``encoding`` the file was in
    (its text unchanged; the cursor's digest reads the same bytes for either encoding of a
    file, and :meth:`Connector.read_kept` reads them back so). A row's key is its
    ``key_columns`` values; a row without them is keyed by its line (and is refused by the
    mapping anyway).
    """
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        yield from _csv_records(text, name, tuple(key_columns), tuple(required_columns))
    finally:
        with contextlib.suppress(ValueError):  # the caller owns the stream: never close it
            text.detach()


def _csv_records(
    text: io.TextIOWrapper, name: str, keys: tuple[str, ...], required: tuple[str, ...]
) -> Iterator[Record]:
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in text:
            consumed.append(line)
            yield line

    try:
        reader = csv.reader(lines())
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{name}: not a readable CSV file: {error}") from error
    if header is None:
        raise InputError(f"{name}: empty file (expected a header row)")
    header = [column.strip() for column in header]
    missing = [column for column in (*required, *keys) if column not in header]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {', '.join(dict.fromkeys(missing))}; "
            f"the header has {', '.join(header)}"
        )
    columns = tuple(header)
    while True:
        consumed.clear()
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as error:
            raise InputError(f"{name}:{start}: not readable CSV: {error}") from error
        if row is None:
            return
        cells = list(map(str.strip, row))
        if not any(cells):
            continue  # blank line
        fields = dict(zip(columns, cells, strict=False))
        key = _record_key(fields, keys, f"line:{start}")
        raw = "".join(consumed).encode()
        yield Record(f"{name}:{start}", key, raw, fields, columns)


def read_view(
    connection: Connection, view: str, key_columns: Iterable[str] = (), *, batch: int = 1000
) -> Iterator[Record]:
    """Stream the rows of a database table or view (server-side cursor, constant memory).

    A row's raw text is its JSON (the quarantine keeps what was read); its location is
    ``view#n``. The view is named by configuration, never by outside input, and is quoted.
    """
    table = Table(view, MetaData(), autoload_with=connection)
    keys = tuple(key_columns)
    result = connection.execution_options(stream_results=True, yield_per=batch).execute(
        select(table)
    )
    for number, row in enumerate(result.mappings(), start=1):
        fields = {str(k): "" if v is None else _as_text(v) for k, v in row.items()}
        key = _record_key(fields, keys, f"row:{number}")
        raw = json.dumps(fields, sort_keys=True).encode()
        yield Record(f"{view}#{number}", key, raw, fields)


def _record_key(fields: Mapping[str, str], keys: tuple[str, ...], fallback: str) -> str:
    """The key columns' values joined; a row missing one is keyed by its position instead
    (and is refused by the mapping anyway)."""
    values = [fields.get(column, "") for column in keys]
    return "|".join(values) if keys and all(values) else fallback


def _as_text(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# --- mapping helpers ----------------------------------------------------------------------------

DATE_FORMATS: Final = ("%d/%m/%Y", "%Y-%m-%d")


@functools.lru_cache(maxsize=8192)
def parse_date(value: str, formats: tuple[str, ...] = DATE_FORMATS) -> date | None:
    """``value`` read with the first of ``formats`` that fits, else None. Cached: ``strptime``
    was a quarter of an extract's mapping time (docs/benchmarks.md), and an extract's dates
    repeat (a million rows over a few years name a few thousand days)."""
    for layout in formats:
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    return None


class Fields:
    """Typed access to a record's fields that collects every problem, then raises them at once.

    ``fields.check()`` raises a :class:`RecordError` naming each bad field, so a sender sees all
    that is wrong with a row in one report instead of one problem per attempt.
    """

    def __init__(
        self,
        values: Record | Mapping[str, str],
        *,
        prefix: str = "",
        issues: list[tuple[str, str]] | None = None,
    ) -> None:
        """``prefix`` names nested parts in reports (``CINdetails[2].``); ``issues`` lets several
        parts of one record report into one list."""
        self._values = values.fields if isinstance(values, Record) else values
        self._prefix = prefix
        self.issues: list[tuple[str, str]] = [] if issues is None else issues

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = (self._values.get(name) or "").strip()
        if not value:
            if required:
                self.fail(name, "is required")
            return None
        return value

    def date(
        self, name: str, *, required: bool = True, formats: tuple[str, ...] = DATE_FORMATS
    ) -> date | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        parsed = parse_date(value, formats)
        if parsed is not None:
            return parsed
        shown = " or ".join(
            layout.replace("%d", "DD")
            .replace("%m", "MM")
            .replace("%b", "Mon")
            .replace("%Y", "YYYY")
            for layout in formats
        )
        self.fail(name, f"{value!r} is not a date (expected {shown})")
        return None

    def integer(
        self, name: str, *, required: bool = True, low: int | None = None, high: int | None = None
    ) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.fail(name, f"{value!r} is not a whole number")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            self.fail(name, f"{number} is outside {low}..{high}")
            return None
        return number

    def choice(self, name: str, allowed: Mapping[str, Any], *, required: bool = True) -> Any:
        value = self.text(name, required=required)
        if value is None:
            return None
        key = value.lower()
        if key not in allowed:
            self.fail(name, f"{value!r} is not one of {', '.join(sorted(allowed))}")
            return None
        return allowed[key]

    def fail(self, name: str, message: str) -> None:
        self.issues.append((f"{self._prefix}{name}", message))

    def check(self) -> None:
        if self.issues:
            raise RecordError(self.issues)


def start_of_day(day: date, config: ConnectorConfig) -> datetime:
    """An aware event time for a date-only fact: midnight in the source's zone."""
    return datetime.combine(day, time(0), ZoneInfo(config.timezone))


def local_identifier(config: ConnectorConfig, kind: str, value: str) -> PersonIdentifier:
    """A source's own person id, namespaced by organisation so two councils' ids never clash."""
    return PersonIdentifier(system=f"urn:hub:{config.organisation_code}:{kind}", value=value)


class Classification(NamedTuple):
    """What kind of personal data an event holds, for the sharing policy."""

    category: DataCategory
    sensitivity: Sensitivity


@dataclass(frozen=True, slots=True)
class EventBuilder:
    """Builds one record's case-events: ``emit(type, payload, occurred=..., classified=...)``.

    Event ids are derived from the content (never from ``recorded_at``): the same record always
    yields the same ids, so re-reading a file publishes nothing new, and a changed fact yields a
    new id, so an update is never mistaken for a duplicate.
    """

    config: ConnectorConfig
    record: Record
    subject: tuple[PersonIdentifier, ...]
    recorded_at: datetime

    def __call__(
        self,
        event_type: EventType,
        payload: FrozenModel,
        *,
        occurred: date | datetime,
        classified: Classification,
    ) -> CaseEvent:
        occurred_at = (
            occurred if isinstance(occurred, datetime) else start_of_day(occurred, self.config)
        )
        content = json.dumps(
            [
                event_type.value,
                # Fields at their defaults are left out, so a field added to a payload later
                # (with a default) does not change the ids of the events that do not use it.
                payload.model_dump(mode="json", exclude_defaults=True),
                occurred_at.astimezone(UTC).isoformat(),
                [identifier.key() for identifier in self.subject],
                classified.category.value,
                classified.sensitivity.value,
            ],
            sort_keys=True,
        )
        return CaseEvent(
            event_id=deterministic_event_id(self.config.system, self.record.key, content),
            event_type=event_type,
            occurred_at=occurred_at,
            recorded_at=self.recorded_at,
            source=Source(
                system=self.config.system, organisation_code=self.config.organisation_code
            ),
            source_record_id=self.record.key,
            subject=self.subject,
            data_category=classified.category,
            sensitivity=classified.sensitivity,
            payload=payload,
        )
