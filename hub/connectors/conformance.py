"""The conformance suite every connector gets for free, batch or message.

Subclass :class:`ConnectorConformance` in a test module, name the connector and a sample file,
and pytest collects these checks (``hub connector new`` writes that module for you)::

    class TestMyConnector(ConnectorConformance):
        connector = MyConnector()
        sample = Path(__file__).parent / "sample.csv"

A message connector subclasses :class:`MessageConnectorConformance` instead, with sample
messages (one per file; refused ones welcome) and the context its channel would pass::

    class TestMyFeed(MessageConnectorConformance):
        connector = MyFeed()
        samples = sorted(Path(__file__).parent.glob("*.json"))
        context = FhirSender("R0A")

It needs pytest and the connector: no broker, no database. Kept in the ``hub`` package (not
``tests/``) so that a connector in its own package can import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.connectors.discovery import discover, discover_messages
from hub.connectors.messages import MessageConnector, translate_message
from hub.connectors.outcomes import Mapped, Outcome, Refused, translate
from hub.connectors.sdk import Connector, ConnectorConfig, InputError
from hub.kafka.codec import case_event_codec

FIRST = datetime(2026, 1, 1, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LATER = datetime(2027, 6, 1, tzinfo=UTC)


class ConnectorConformance:
    connector: ClassVar[Connector[Any]]
    sample: ClassVar[Path]
    config: ClassVar[Mapping[str, Any] | None] = None  # the connector's example if None

    def _config(self) -> ConnectorConfig:
        config: ConnectorConfig = self.connector.config(
            self.config if self.config is not None else self.connector.example_config
        )
        return config

    def _outcomes(self, recorded_at: datetime) -> list[Outcome]:
        with self.sample.open("rb") as stream:
            records = self.connector.read_with(stream, self.sample.name, self._config())
            return list(translate(self.connector, self._config(), records, recorded_at))

    def test_is_installed_under_its_name(self) -> None:
        assert type(self.connector) is discover().get(self.connector.name), (
            f"register {type(self.connector).__name__} in the 'hub.connectors' entry points "
            f"as {self.connector.name!r}"
        )

    def test_describes_itself(self) -> None:
        assert self.connector.name
        assert self.connector.summary
        assert self.connector.channels

    def test_example_config_validates(self) -> None:
        config = self._config()
        assert config.system
        assert config.organisation_code

    def test_config_refuses_unknown_settings(self) -> None:
        values = {**self.connector.example_config, "no_such_setting": 1}
        with pytest.raises(InputError, match="no_such_setting"):
            self.connector.config(values)

    def test_sample_maps_without_refusals(self) -> None:
        outcomes = self._outcomes(FIRST)
        refused = [o.describe() for o in outcomes if isinstance(o, Refused)]
        assert not refused, refused
        assert any(isinstance(o, Mapped) and o.events for o in outcomes), "no events at all"

    def test_every_event_round_trips_through_avro(self) -> None:
        codec = case_event_codec("conformance")
        for outcome in self._outcomes(FIRST):
            for event in outcome.events if isinstance(outcome, Mapped) else ():
                assert codec.decode(codec.encode(event)) == event

    def test_events_name_their_source(self) -> None:
        config = self._config()
        for outcome in self._outcomes(FIRST):
            for event in outcome.events if isinstance(outcome, Mapped) else ():
                assert event.source.system == config.system
                assert event.source.organisation_code == config.organisation_code

    def test_same_input_gives_same_event_ids(self) -> None:
        def ids(recorded_at: datetime) -> list[tuple[str, list[str]]]:
            return [
                (o.record.key, [str(e.event_id) for e in o.events])
                for o in self._outcomes(recorded_at)
                if isinstance(o, Mapped)
            ]

        first = ids(FIRST)
        assert first == ids(LATER)
        every_id = [event_id for _, event_ids in first for event_id in event_ids]
        assert len(every_id) == len(set(every_id)), "two facts share an event id"

    def test_record_keys_are_unique_in_the_sample(self) -> None:
        keys = [o.record.key for o in self._outcomes(FIRST)]
        assert len(keys) == len(set(keys)), "the cursor cannot tell two records apart"


class MessageConnectorConformance:
    """The checks for a message connector, over sample messages (one per file).

    Samples may include messages the connector refuses (the error cases of its golden files):
    every refusal must name its fields. Each sample is received at both times of ``received``,
    which are later than anything the samples say happened (a message is not received before
    it was written), and must give the same event ids at both.
    """

    connector: ClassVar[MessageConnector[Any, Any]]
    samples: ClassVar[Sequence[Path]]
    context: ClassVar[Any]
    received: ClassVar[tuple[datetime, datetime]] = (RECEIVED, LATER)

    def _outcomes(self, recorded_at: datetime | None = None) -> list[tuple[Path, Outcome]]:
        at = self.received[0] if recorded_at is None else recorded_at
        return [
            (
                sample,
                translate_message(
                    self.connector, sample.read_bytes(), self.context, at, location=sample.name
                ).outcome,
            )
            for sample in self.samples
        ]

    def _mapped(self, recorded_at: datetime | None = None) -> list[tuple[Path, Mapped]]:
        return [(s, o) for s, o in self._outcomes(recorded_at) if isinstance(o, Mapped)]

    def test_is_installed_under_its_name(self) -> None:
        assert type(self.connector) is discover_messages().get(self.connector.name), (
            f"register {type(self.connector).__name__} in the 'hub.connectors' entry points "
            f"as {self.connector.name!r}"
        )

    def test_describes_itself(self) -> None:
        assert self.connector.name
        assert self.connector.summary
        assert self.connector.channels

    def test_some_sample_maps_to_events(self) -> None:
        assert self.samples, "no sample messages"
        assert any(mapped.events for _, mapped in self._mapped()), "no events at all"

    def test_every_refusal_names_its_fields(self) -> None:
        for sample, outcome in self._outcomes():
            if isinstance(outcome, Refused):
                assert outcome.issues, f"{sample.name}: refused without saying why"
                for field, message in outcome.issues:
                    assert field, f"{sample.name}: {message!r} names no field"
                    assert message, f"{sample.name}: {field} refused without a message"

    def test_every_event_round_trips_through_avro(self) -> None:
        codec = case_event_codec("conformance")
        for _, mapped in self._mapped():
            for event in mapped.events:
                assert codec.decode(codec.encode(event)) == event

    def test_the_events_of_a_message_name_one_source(self) -> None:
        for sample, mapped in self._mapped():
            sources = {event.source for event in mapped.events}
            assert len(sources) == 1, f"{sample.name}: {sources}"
            [source] = sources
            assert source.system
            assert source.organisation_code

    def test_same_message_gives_same_outcome(self) -> None:
        """Deterministic: the same message received twice maps alike, refusals included."""
        assert _shape(self._outcomes()) == _shape(self._outcomes())

    def test_same_message_gives_same_event_ids_whenever_received(self) -> None:
        def ids(recorded_at: datetime) -> dict[str, list[str]]:
            return {
                sample.name: [str(event.event_id) for event in mapped.events]
                for sample, mapped in self._mapped(recorded_at)
            }

        first, later = self.received
        assert ids(first) == ids(later)
        for name, event_ids in ids(first).items():
            assert len(event_ids) == len(set(event_ids)), f"{name}: two facts share an event id"


def _shape(outcomes: list[tuple[Path, Outcome]]) -> list[tuple[str, object]]:
    return [
        (
            sample.name,
            [event.model_dump(mode="json") for event in outcome.events]
            if isinstance(outcome, Mapped)
            else list(outcome.issues),
        )
        for sample, outcome in outcomes
    ]
