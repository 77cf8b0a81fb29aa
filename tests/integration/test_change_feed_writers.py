"""Several writers of the alert change feed (several workers): ``seq`` order is commit order.

A reader moves a cursor over ``seq``; if a row with a higher ``seq`` became visible while a lower
one was still uncommitted, the cursor would pass the lower one for good — a webhook, SSE event
or partner-topic record skipped. On PostgreSQL a sequence hands out numbers at insert, so the
feed's writers take a lock (``hub/alerts/changes.py``); this test holds one writer's
transaction open and shows the second waits for it.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import Engine

from hub.alerts.changes import changes_after, record_erasures

pytestmark = pytest.mark.postgres


def test_a_later_writer_waits_so_no_cursor_skips_an_uncommitted_change(
    sql_engine: Engine,
) -> None:
    if sql_engine.dialect.name != "postgresql":
        pytest.skip("SQLite allows one writing transaction at a time: nothing to show")
    first, second = uuid.uuid4(), uuid.uuid4()

    def later_writer() -> None:
        with sql_engine.begin() as connection:
            record_erasures(connection, [(second, "fam-b")], cause="t/1/0")

    with sql_engine.begin() as connection:
        record_erasures(connection, [(first, "fam-a")], cause="t/0/0")
        writer = threading.Thread(target=later_writer)
        writer.start()
        time.sleep(1.0)
        # The later writer must not have committed a higher seq past our uncommitted one.
        assert changes_after(sql_engine, 0) == []
    writer.join(30)
    assert not writer.is_alive()
    feed = changes_after(sql_engine, 0)
    assert [c.alert_id for c in feed] == [first, second]  # seq order is commit order
