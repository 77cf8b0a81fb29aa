"""The ``tabular`` connector: any CSV or ``.xlsx`` table, mapped to case-events by TOML alone.

A council maps its WCCIS report or a Welsh Government census form by writing a
:class:`~hub.connectors.tabular.mapping.TabularConfig` — no Python — and runs it as any batch
connector (``hub connector test tabular FILE --config MAPPING.toml``; ``run``; a partner's
upload). Each row is checked whole: every empty required cell, unreadable date, code missing
from its list and value the event contract refuses is reported together, each naming its column
(the record's location names the file, sheet and row), and the row is quarantined as it was
read. What each payload field is comes from the contract itself (a ``date`` field is parsed with
the mapping's date formats, a list field takes several columns), so a rule can state any event
the hub has. A plan rule that names its ``jurisdiction`` but not its ``local_name`` / ``statute``
gets them from :mod:`hub.jurisdictions`.
"""

from __future__ import annotations

import functools
import tomllib
import types
import typing
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Final

from pydantic import BaseModel, ValidationError

from hub.connectors.sdk import (
    Classification,
    Connector,
    EventBuilder,
    Fields,
    Record,
    local_identifier,
)
from hub.connectors.tabular.mapping import EventRule, FieldSource, TabularConfig
from hub.connectors.tabular.reading import XLSX_TYPE, read_table
from hub.events import PAYLOAD_TYPES, CaseEvent
from hub.jurisdictions import plan_terms
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.payloads import NHS_NUMBER_SYSTEM, FrozenModel, PersonIdentifier
from hub.vocabulary import Jurisdiction, PlanType

EXAMPLES: Final = Path(__file__).resolve().parent / "examples"
ISO_DATE: Final = "%Y-%m-%d"  # how an .xlsx date cell reads, whatever the mapping's formats


class TabularConnector(Connector[TabularConfig]):
    name = "tabular"
    summary = (
        "Any CSV or .xlsx table mapped in TOML (columns, code lists, date formats): "
        "WCCIS reports, the Welsh LAC and CRCS census forms"
    )
    config_model = TabularConfig
    # The worked example of docs/connectors.md: the Welsh LAC census episodes form.
    example_config: ClassVar = tomllib.loads(
        (EXAMPLES / "lac-census-episodes.toml").read_text("utf-8")
    )
    channels = ("extract", "upload")
    upload_types = ("text/csv", XLSX_TYPE)

    def read(self, stream: BinaryIO, name: str) -> Iterator[Record]:
        raise TypeError("the tabular connector reads as its mapping says: call read_with()")

    def read_with(self, stream: BinaryIO, name: str, config: TabularConfig) -> Iterator[Record]:
        return read_table(stream, name, config)

    def read_kept(self, stream: BinaryIO, name: str, config: TabularConfig) -> Iterator[Record]:
        """A kept row is UTF-8 (:func:`hub.connectors.sdk.read_csv`), whatever encoding the
        mapping reads its files in: read under that mapping as it would be in UTF-8."""
        utf8 = config.input.model_copy(update={"encoding": "utf-8"})
        return read_table(stream, name, config.model_copy(update={"input": utf8}))

    def map(self, record: Record, config: TabularConfig, recorded_at: datetime) -> list[CaseEvent]:
        cells = Fields(record)
        subject = _subject(cells, config)
        formats = tuple(dict.fromkeys((*config.input.date_formats, ISO_DATE)))
        for column, codes in config.checks.items():
            value = cells.text(column, required=False)
            if value is not None and value.lower() not in config.code_list(codes):
                known = ", ".join(sorted(config.codes[codes]))
                cells.fail(column, f"{value!r} is not in the code list {codes} ({known})")
        stated: list[tuple[EventRule, date | None, BaseModel | None]] = []
        for rule in config.events:
            if all(c.holds(record.fields.get(c.column, "").strip()) for c in rule.when):
                occurred = cells.date(rule.occurred, formats=formats)
                stated.append((rule, occurred, _payload(rule, cells, config, formats)))
        cells.issues[:] = dict.fromkeys(cells.issues)  # a column two fields read: reported once
        cells.check()
        assert subject is not None  # else check() raised
        emit = EventBuilder(config, record, subject, recorded_at)
        events = []
        for rule, occurred, payload in stated:
            assert occurred is not None
            assert isinstance(payload, FrozenModel)
            classified = Classification(rule.category, rule.sensitivity)
            events.append(emit(rule.type, payload, occurred=occurred, classified=classified))
        return events


def _subject(cells: Fields, config: TabularConfig) -> tuple[PersonIdentifier, ...] | None:
    settings = config.subject
    local = cells.text(settings.id_column)
    found = [local_identifier(config, settings.kind, local)] if local else []
    if settings.nhs_number is not None:
        number = cells.text(settings.nhs_number, required=False)
        if number is not None and is_valid_nhs_number(number):
            nhs = normalise_nhs_number(number)
            found.append(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=nhs))
        elif number is not None:
            cells.fail(settings.nhs_number, f"{number!r} is not a valid NHS number")
    for system, column in settings.identifiers.items():
        value = cells.text(column, required=False)
        if value is not None:
            found.append(PersonIdentifier(system=system, value=value))
    return tuple(found) if local else None


def _payload(
    rule: EventRule, cells: Fields, config: TabularConfig, formats: tuple[str, ...]
) -> BaseModel | None:
    """The rule's payload from the row, or None with every problem reported to ``cells``."""
    model = PAYLOAD_TYPES[rule.type]
    values: dict[str, Any] = {}
    before = len(cells.issues)
    for name, source in rule.fields.items():
        value = _value(source, _kind(model, name), cells, config, formats)
        if value is not None:
            values[name] = value
    _fill_jurisdiction_terms(rule, values)
    if len(cells.issues) > before:
        return None
    try:
        return model.model_validate(values)
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else ""
            given = rule.fields.get(name)
            where = next(given.referenced(), None) if given else None
            cells.fail(where or name, f"{problem['msg']} ({rule.type} {name})")
        return None


def _value(
    source: FieldSource,
    kind: type,
    cells: Fields,
    config: TabularConfig,
    formats: tuple[str, ...],
) -> Any:
    if source.value is not None:
        return source.value
    if source.template is not None:
        referenced = list(source.referenced())
        parts = {column: cells.text(column, required=source.required) for column in referenced}
        if any(part is None for part in parts.values()):
            return None
        return source.template.format_map(parts)
    if source.columns is not None:
        texts = (cells.text(column, required=False) for column in source.columns)
        found = [
            _translated(column, text, source, cells, config)
            for column, text in zip(source.columns, texts, strict=True)
            if text is not None
        ]
        if not found and source.required:
            cells.fail(source.columns[0], f"one of {', '.join(source.columns)} is required")
        return tuple(found)
    assert source.column is not None
    if kind is date and source.codes is None:
        return cells.date(source.column, required=source.required, formats=formats)
    if kind is int and source.codes is None:
        return cells.integer(source.column, required=source.required)
    text = cells.text(source.column, required=source.required)
    return None if text is None else _translated(source.column, text, source, cells, config)


def _translated(
    column: str, text: str, source: FieldSource, cells: Fields, config: TabularConfig
) -> Any:
    if source.codes is None:
        return text
    codes = config.code_list(source.codes)
    if text.lower() not in codes:
        known = ", ".join(sorted(config.codes[source.codes]))
        cells.fail(column, f"{text!r} is not in the code list {source.codes} ({known})")
        return None
    return codes[text.lower()]


@functools.cache
def _kind(model: type[BaseModel], name: str) -> type:
    """The payload field's type without ``None`` (``date | None`` is ``date``)."""
    annotation = model.model_fields[name].annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = inner[0] if len(inner) == 1 else annotation
    return annotation if isinstance(annotation, type) else object


def _fill_jurisdiction_terms(rule: EventRule, values: dict[str, Any]) -> None:
    """A plan rule naming its jurisdiction gets that jurisdiction's name and statute for the
    plan unless the mapping gives its own (a council's local wording wins)."""
    if "jurisdiction" not in values or "plan_type" not in values:
        return
    try:
        terms = plan_terms(Jurisdiction(values["jurisdiction"]), PlanType(values["plan_type"]))
    except ValueError:
        return  # the payload's validation names the bad value
    if terms is None:
        return
    started = rule.type.value == "PLAN_STARTED"
    values.setdefault("local_name", terms.started if started else terms.ended)
    values.setdefault("statute", terms.statute)
