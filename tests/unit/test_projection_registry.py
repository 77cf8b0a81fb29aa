"""The projection registry is the one list: the worker's runners, resume, ``/metrics`` and
``/health`` lags, and ``hub replay`` all derive from it, so a projection left out of it is
neither run nor resumed, watched nor rebuilt."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from hub.alerts.fold import PROJECTION as ALERTS
from hub.bootstrap import ProjectionStores
from hub.errorqueue.fold import PROJECTION as ERROR_QUEUE
from hub.errorqueue.tables import DEAD_LETTER_PROJECTION
from hub.http.metrics import lags, watched
from hub.identity.store import IDENTITY_PROJECTION
from hub.outcomes.fold import PROJECTION as OUTCOMES
from hub.projections.registry import (
    PROJECTIONS,
    ProjectionSpec,
    TopicRole,
    derived_tables,
    rebuildable,
    runner_applies,
)
from hub.projections.replay import ReplayError, replayable
from hub.projections.resume import stored_projections
from hub.settings import Settings
from hub.sharing.store import DISCLOSURE_PROJECTION, SHARING_PROJECTION
from hub.team.fold import PROJECTION as TEAM

SETTINGS = Settings(
    case_events_topic="cases", family_events_topic="families", disclosures_topic="disclosed"
)
WITHOUT_TEAM: tuple[ProjectionSpec[Any], ...] = tuple(s for s in PROJECTIONS if s.name != TEAM)


def test_the_registry_names_every_projection_once() -> None:
    names = Counter(spec.name for spec in PROJECTIONS)
    assert names == Counter(
        [
            IDENTITY_PROJECTION,
            ALERTS,
            TEAM,
            OUTCOMES,
            SHARING_PROJECTION,
            DISCLOSURE_PROJECTION,
            ERROR_QUEUE,
            DEAD_LETTER_PROJECTION,
        ]
    )
    tables = [table.name for table in derived_tables()]
    assert len(tables) == len(set(tables))  # no table belongs to two projections
    assert "projection_positions" in tables


def test_resume_and_the_lag_figures_read_the_registry() -> None:
    assert stored_projections(SETTINGS) == {
        "cases": [IDENTITY_PROJECTION],
        "families": [ALERTS, TEAM, OUTCOMES, SHARING_PROJECTION],
        "disclosed": [DISCLOSURE_PROJECTION],
        SETTINGS.quarantine_topic: [ERROR_QUEUE],
        SETTINGS.dead_letter_topic: [DEAD_LETTER_PROJECTION],
    }
    assert sorted(watched(SETTINGS)) == sorted(
        (spec.name, spec.reads.topic(SETTINGS)) for spec in PROJECTIONS
    )


def test_a_projection_absent_from_the_list_is_not_resumed_watched_or_rebuilt() -> None:
    assert stored_projections(SETTINGS, WITHOUT_TEAM)["families"] == [
        ALERTS,
        OUTCOMES,
        SHARING_PROJECTION,
    ]
    assert (TEAM, "families") not in watched(SETTINGS, WITHOUT_TEAM)
    assert TEAM in rebuildable()
    assert list(rebuildable(WITHOUT_TEAM)) == [ALERTS, OUTCOMES]
    replayable(TEAM)
    with pytest.raises(
        ReplayError, match=r"known projections: missed_appointment_alerts, outcomes$"
    ):
        replayable(TEAM, WITHOUT_TEAM)
    assert "taf_items" not in {table.name for table in derived_tables(WITHOUT_TEAM)}


def test_a_projection_absent_from_the_list_is_not_run(
    embedded_stores: ProjectionStores,
) -> None:
    stores = embedded_stores
    everything = runner_applies(stores)
    assert stores.team in everything[TopicRole.FAMILY_EVENTS]
    applies = runner_applies(stores, WITHOUT_TEAM)
    assert applies[TopicRole.CASE_EVENTS] == [stores.identity]
    # The registry's order, then the erasure steps after every projection of the topic.
    family = applies[TopicRole.FAMILY_EVENTS]
    assert stores.team not in family
    assert family[:5] == [
        stores.alerts,
        stores.outcomes,
        stores.sharing,
        stores.quarantine.forget_erased,
        stores.keys.apply,
    ]
    assert len(family) == 6  # the last truncates SQLite's write-ahead logs
    assert len(applies[TopicRole.DISCLOSURES]) == 1
    # ... nor measured by /metrics and /health.
    marks = {("families", 0): (0, 3)}
    assert {lag.projection for lag in lags(SETTINGS, stores.alerts.engine, marks)} == {
        ALERTS,
        TEAM,
        OUTCOMES,
        SHARING_PROJECTION,
    }
    behind = lags(SETTINGS, stores.alerts.engine, marks, WITHOUT_TEAM)
    assert {lag.projection for lag in behind} == {ALERTS, OUTCOMES, SHARING_PROJECTION}
