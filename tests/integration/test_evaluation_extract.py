"""The evaluation extract through the real gate and the real broker: released per person under
the agreement's SERVICE_EVALUATION flow, each release recorded; the key ends the link."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest

from hub.bootstrap import Hub, build_hub
from hub.services.errors import ForbiddenError, NotFoundError
from hub.services.evaluation import evaluation_extract, evaluation_key
from hub.services.release import SharingContext
from hub.settings import Settings
from hub.sharing.policy import Recipient
from hub.storage.positions import BatchEntry
from tests.integration.test_outcomes_routes import families
from tests.support.topics import disclosures_read, read_topic
from tests.unit.test_outcomes_fold import SF

NOW = datetime(2027, 10, 1, 12, tzinfo=UTC)
EVALUATOR = Recipient(organisation_code="EVAL-IPC", role="EVALUATOR", user_id="ipc-analyst")


@pytest.fixture
def hub(make_settings: Callable[..., Settings]) -> Iterator[Hub]:
    made = build_hub(make_settings(), clock=lambda: NOW)
    made.outcomes.apply_batch(
        "family-events", 0, [BatchEntry(i, e, None) for i, e in enumerate(families(12))]
    )
    try:
        yield made
    finally:
        made.close()


def context(hub: Hub) -> SharingContext:
    return SharingContext(hub.agreement, hub.sharing, hub.identity, hub.sink, hub.clock)


def test_the_evaluator_gets_every_episode_and_each_release_is_recorded(hub: Hub) -> None:
    key = evaluation_key(hub.settings.state_dir, "ipc-2027", create=True)
    seen: list[tuple[int, int]] = []
    found = asyncio.run(
        evaluation_extract(
            hub.outcomes,
            context(hub),
            EVALUATOR,
            SF,
            evaluation="ipc-2027",
            key=key,
            as_of=date(2027, 10, 1),
            progress=lambda done, of: seen.append((done, of)),
        )
    )
    assert (len(found.rows), found.withheld) == (12, 0)
    assert seen[-1] == (12, 12)
    assert len({row["person"] for row in found.rows}) == 12
    codec = disclosures_read(hub.settings)
    records = [
        codec.decode(m.value() or b"")
        for m in read_topic(
            hub.settings.bootstrap_servers(), hub.settings.disclosures_topic, expect=12
        )
    ]
    assert {(d.purpose, d.channel, d.recipient_organisation) for d in records} == {
        ("SERVICE_EVALUATION", "EXPORT", "EVAL-IPC")
    }
    assert all(len(d.items) == 5 and not d.withheld for d in records)


def test_without_a_flow_nothing_is_released_and_that_is_recorded(hub: Hub) -> None:
    key = evaluation_key(hub.settings.state_dir, "not-agreed", create=True)
    outsider = Recipient(organisation_code="VCS-HOMESTART-SALFORD", role="EVALUATOR", user_id="x")
    found = asyncio.run(
        evaluation_extract(
            hub.outcomes, context(hub), outsider, SF, evaluation="not-agreed", key=key
        )
    )
    assert (found.rows, found.withheld) == ([], 12)


def test_only_an_evaluator_and_the_key_ends_the_link(hub: Hub) -> None:
    manager = Recipient(organisation_code="355", role="PROGRAMME_MANAGER", user_id="pm")
    key = evaluation_key(hub.settings.state_dir, "ipc-2027", create=True)
    with pytest.raises(ForbiddenError):
        asyncio.run(
            evaluation_extract(
                hub.outcomes, context(hub), manager, SF, evaluation="ipc-2027", key=key
            )
        )
    path = hub.settings.state_dir / "evaluation-keys" / "ipc-2027.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert evaluation_key(hub.settings.state_dir, "ipc-2027", create=False) == key
    path.unlink()  # the evaluation is over: its key is destroyed
    with pytest.raises(NotFoundError, match="destroyed"):
        evaluation_key(hub.settings.state_dir, "ipc-2027", create=False)
