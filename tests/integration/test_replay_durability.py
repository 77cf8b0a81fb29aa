"""While ``hub replay`` builds, its own transactions are not flushed one by one; the swap's are,
and no other engine, nor a connection back in the pool, is touched (ADR 0015, "Issue 19")."""

from __future__ import annotations

from sqlalchemy import Engine

from hub.projections.replay import Durability
from hub.storage.engine import make_engine


def level(engine: Engine) -> object:
    """SQLite's synchronous level, or PostgreSQL's synchronous_commit, in a new transaction."""
    query = "PRAGMA synchronous" if engine.dialect.name == "sqlite" else "SHOW synchronous_commit"
    with engine.begin() as connection:
        return connection.exec_driver_sql(query).scalar()


def test_the_build_is_relaxed_the_swap_durable_and_nothing_else_changed(sql_engine: Engine) -> None:
    url = sql_engine.url.render_as_string(hide_password=False)
    sqlite = sql_engine.dialect.name == "sqlite"
    relaxed, durable = (1, 2) if sqlite else ("off", "on")  # SQLite: NORMAL, FULL
    replaying, live = make_engine(url), make_engine(url)
    try:
        before = level(replaying)
        with Durability(replaying) as durability:
            assert level(replaying) == relaxed
            with durability.strict():
                assert level(replaying) == durable
            assert level(replaying) == relaxed
            assert level(live) == before  # the live hub's engine is not the rebuild's
        assert level(replaying) == before  # the pooled connection was given its level back
        if sqlite:
            assert before == durable  # SQLite's default, FULL
    finally:
        replaying.dispose()
        live.dispose()
