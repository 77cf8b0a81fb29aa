"""The conformance suite every connector gets for free.

Subclass :class:`ConnectorConformance` in a test module, name the connector and a sample file,
and pytest collects these checks (``hub connector new`` writes that module for you)::

    class TestMyConnector(ConnectorConformance):
        connector = MyConnector()
        sample = Path(__file__).parent / "sample.csv"

It needs pytest and the connector: no broker, no database. Kept in the ``hub`` package (not
``tests/``) so that a connector in its own package can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.connectors.runtime import Mapped, Outcome, Refused, translate
from hub.connectors.sdk import Connector, ConnectorConfig, InputError, discover
from hub.kafka.codec import case_event_codec


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
            records = self.connector.read(stream, self.sample.name)
            return list(translate(self.connector, self._config(), records, recorded_at))

    def test_is_installed_under_its_name(self) -> None:
        assert type(self.connector) is discover().get(self.connector.name), (
            f"register {type(self.connector).__name__} in the 'hub.connectors' entry points "
            f"as {self.connector.name!r}"
        )

    def test_describes_itself(self) -> None:
        assert self.connector.name
        assert self.connector.summary

    def test_example_config_validates(self) -> None:
        config = self._config()
        assert config.system
        assert config.organisation_code

    def test_config_refuses_unknown_settings(self) -> None:
        values = {**self.connector.example_config, "no_such_setting": 1}
        with pytest.raises(InputError, match="no_such_setting"):
            self.connector.config(values)

    def test_sample_maps_without_refusals(self) -> None:
        outcomes = self._outcomes(datetime(2026, 1, 1, tzinfo=UTC))
        refused = [o.describe() for o in outcomes if isinstance(o, Refused)]
        assert not refused, refused
        assert any(isinstance(o, Mapped) and o.events for o in outcomes), "no events at all"

    def test_every_event_round_trips_through_avro(self) -> None:
        codec = case_event_codec("conformance")
        for outcome in self._outcomes(datetime(2026, 1, 1, tzinfo=UTC)):
            for event in outcome.events if isinstance(outcome, Mapped) else ():
                assert codec.decode(codec.encode(event)) == event

    def test_events_name_their_source(self) -> None:
        config = self._config()
        for outcome in self._outcomes(datetime(2026, 1, 1, tzinfo=UTC)):
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

        first = ids(datetime(2026, 1, 1, tzinfo=UTC))
        assert first == ids(datetime(2027, 6, 1, tzinfo=UTC))
        every_id = [event_id for _, event_ids in first for event_id in event_ids]
        assert len(every_id) == len(set(every_id)), "two facts share an event id"

    def test_record_keys_are_unique_in_the_sample(self) -> None:
        keys = [o.record.key for o in self._outcomes(datetime(2026, 1, 1, tzinfo=UTC))]
        assert len(keys) == len(set(keys)), "the cursor cannot tell two records apart"
