"""The tabular connector's configuration: a table's columns mapped to case-events, in TOML.

A council describes its report (a WCCIS export, a Welsh Government census form) in one file:
which sheet and header row, which columns identify a row, who the row is about, its code lists,
its date formats, and one ``[[events]]`` rule per fact a row can state — which event, when the
row states it (conditions on cells), and where each payload field comes from (a column, a
literal, a template of columns, or several columns). Everything is checked when the file is
loaded, against the event contract itself (:data:`hub.events.PAYLOAD_TYPES`): a payload field
that does not exist, a required one left out or a code list that is not defined is an error
naming the rule and field before any row is read. ``docs/connectors.md`` has a worked example.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from hub.connectors.sdk import DATE_FORMATS, ConnectorConfig
from hub.events import PAYLOAD_TYPES, EventType
from hub.vocabulary import DataCategory, Sensitivity


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class InputSettings(_Strict):
    """Where the table is in the file, and how its cells are written."""

    format: Literal["auto", "csv", "xlsx"] = Field(
        default="auto", description="auto: an .xlsx workbook by its bytes, else CSV."
    )
    sheet: str | None = Field(default=None, description="xlsx: the sheet; the first if omitted.")
    header_row: int = Field(
        default=1, ge=1, description="xlsx: the row holding the column names (forms have titles)."
    )
    encoding: str = Field(default="utf-8-sig", description="CSV: the text encoding.")
    max_unpacked_mib: int = Field(
        default=256,
        ge=1,
        description="xlsx: the most the workbook may unpack to (a zip bomb is refused unread).",
    )
    key: tuple[str, ...] = Field(
        min_length=1, description="Columns that identify a row across extracts (the cursor's key)."
    )
    date_formats: tuple[str, ...] = Field(
        default=DATE_FORMATS,
        min_length=1,
        description="strptime layouts of date cells, tried in order (xlsx date cells always read).",
    )


class SubjectSettings(_Strict):
    """Who a row is about: the source's own id (namespaced by organisation) and any others."""

    id_column: str = Field(min_length=1, description="The source's person id column.")
    kind: str = Field(default="child", min_length=1, description="urn:hub:ORG:KIND namespace.")
    nhs_number: str | None = Field(default=None, description="Column of the NHS number, if any.")
    identifiers: dict[str, str] = Field(
        default_factory=dict, description="Identifier system -> column, e.g. urn:dfe:upn = 'UPN'."
    )


class Condition(_Strict):
    """A row states a rule's fact only when every condition holds on its cells."""

    column: str = Field(min_length=1)
    present: bool | None = Field(default=None, description="The cell is (true) or is not filled.")
    in_: tuple[str, ...] | None = Field(default=None, alias="in", description="One of (any case).")
    not_in: tuple[str, ...] | None = Field(
        default=None, description="None of (any case); an empty cell is none of them."
    )

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        tests = [t for t in (self.present, self.in_, self.not_in) if t is not None]
        if len(tests) != 1:
            raise ValueError(f"condition on {self.column!r}: give one of present, in, not_in")
        return self

    def holds(self, cell: str) -> bool:
        if self.present is not None:
            return bool(cell) is self.present
        value = cell.lower()
        if self.in_ is not None:
            return value in {v.lower() for v in self.in_}
        assert self.not_in is not None  # an empty cell is in none: the rule's fields then
        return value not in {v.lower() for v in self.not_in}  # report it if they need it


class FieldSource(_Strict):
    """Where one payload field's value comes from: exactly one of column, value, template,
    columns. ``codes`` names a code list the cell values are translated through."""

    column: str | None = None
    value: str | int | bool | tuple[str, ...] | None = None
    template: str | None = Field(default=None, description="e.g. '{Child ID}:LAC'")
    columns: tuple[str, ...] | None = Field(
        default=None, description="Several columns into one list (empty cells left out)."
    )
    codes: str | None = Field(default=None, description="A [codes.NAME] list to translate by.")
    required: bool = Field(default=True, description="An empty cell is refused (else omitted).")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = [s for s in (self.column, self.value, self.template, self.columns) if s is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of column, value, template, columns")
        if self.codes is not None and self.column is None and self.columns is None:
            raise ValueError("codes translate cells: use them with column or columns")
        return self

    def referenced(self) -> Iterator[str]:
        if self.column is not None:
            yield self.column
        yield from self.columns or ()
        if self.template is not None:
            yield from (f for _, f, _, _ in string.Formatter().parse(self.template) if f)


class EventRule(_Strict):
    """One fact a row may state: ``type`` when ``when`` holds, dated by ``occurred``."""

    type: EventType
    occurred: str = Field(min_length=1, description="The date column the fact happened on.")
    category: DataCategory = Field(description="What kind of data it is, for the policy.")
    sensitivity: Sensitivity
    when: tuple[Condition, ...] = ()
    fields: dict[str, FieldSource] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields_are_the_payloads(self) -> Self:
        model = PAYLOAD_TYPES[self.type]
        unknown = sorted(set(self.fields) - set(model.model_fields))
        if unknown:
            known = ", ".join(model.model_fields)
            raise ValueError(f"{self.type}: no payload field {', '.join(unknown)} (has {known})")
        missing = [
            name
            for name, info in model.model_fields.items()
            if info.is_required() and name not in self.fields
        ]
        if missing:
            raise ValueError(f"{self.type}: payload field(s) {', '.join(missing)} not mapped")
        return self

    def referenced(self) -> Iterator[str]:
        yield self.occurred
        yield from (condition.column for condition in self.when)
        for source in self.fields.values():
            yield from source.referenced()


class TabularConfig(ConnectorConfig):
    """A table mapped to case-events (the ``tabular`` connector's whole configuration)."""

    input: InputSettings
    subject: SubjectSettings
    codes: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Code lists: NAME -> {source code -> hub value}; codes match in any case.",
    )
    checks: dict[str, str] = Field(
        default_factory=dict,
        description="Column -> code list every filled cell of it must be in, whichever rules "
        "fire (a Y/N flag, a reason code that only conditions read).",
    )
    events: tuple[EventRule, ...] = Field(min_length=1)
    # Code lists keyed in lower case, made once: every cell of every row is looked up in them.
    _lowered: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._lowered = {
            name: {str(code).strip().lower(): value for code, value in codes.items()}
            for name, codes in self.codes.items()
        }

    @model_validator(mode="after")
    def _code_lists_exist(self) -> Self:
        for column, name in self.checks.items():
            if name not in self.codes:
                raise ValueError(f"checks: column {column!r} names no code list {name!r}")
        for number, rule in enumerate(self.events, start=1):
            for name, source in rule.fields.items():
                if source.codes is not None and source.codes not in self.codes:
                    raise ValueError(
                        f"events[{number}] ({rule.type}) field {name}: no code list "
                        f"{source.codes!r} (defined: {', '.join(sorted(self.codes)) or 'none'})"
                    )
        return self

    def columns(self) -> tuple[str, ...]:
        """Every column the mapping reads: a table without one of them is refused whole."""
        subject = self.subject
        named = [
            *self.input.key,
            subject.id_column,
            *([subject.nhs_number] if subject.nhs_number else []),
            *subject.identifiers.values(),
            *self.checks,
            *(column for rule in self.events for column in rule.referenced()),
        ]
        return tuple(dict.fromkeys(named))

    def code_list(self, name: str) -> dict[str, Any]:
        """A code list by lower-case code (codes match in any case)."""
        return self._lowered[name]
