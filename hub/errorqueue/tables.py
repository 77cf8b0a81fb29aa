"""The error queue's tables (SQLite by default, PostgreSQL by URL).

Two kinds of table. **Folded from the log** (:data:`FOLDED`, rebuilt by the worker from offset 0
when they and their positions are deleted): ``quarantine_items``, one row per refused input,
and ``quarantine_inputs``, the sealed bytes of each of its parts. They are written only through
:meth:`QuarantineStore.apply_batch`: one partition's batch in one transaction with its log
position (:func:`hub.storage.positions.apply_batch_at_position`), the batch's items read in one
query, folded in memory (:func:`hub.errorqueue.fold.fold`) and written back with one statement
per table (issue 19, ADR 0026).

**The engineer's record** (:data:`RECORDED`): what people did with an item — its status, who
dismissed or replayed it and why, the errors of its last replay, and every corrected copy
(sealed like the original, with who corrected it and why). Not derivable from the log, so never
deleted by a rebuild; purged with the item by retention or erasure (ADR 0030).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text

from hub.errorqueue.fold import PROJECTION

DEAD_LETTER_PROJECTION: Final = f"{PROJECTION}-dead-letters"

metadata = MetaData()

items_table = Table(
    "quarantine_items",
    metadata,
    Column("item_id", String(36), primary_key=True),
    Column("channel", String(20), nullable=False, index=True),
    Column("received_as", String(50), nullable=False),
    Column("source_system", String(250), index=True),
    Column("organisation", String(50), index=True),
    Column("content_type", Text),  # a CSV row's columns, a webhook's id: not short
    Column("reason", Text, nullable=False),
    Column("errors", Text, nullable=False),  # JSON [[location, message], ...], redacted
    Column("first_seen", String(40), nullable=False),  # ISO 8601, UTC: sorts as text
    Column("last_seen", String(40), nullable=False, index=True),
    Column("times", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("failed_topic", String(250)),
    Column("failed_partition", Integer),
    Column("failed_offset", Integer),
    Column("key_ids", Text, nullable=False),  # JSON list of data-key ids (random, no identifier)
)

inputs_table = Table(
    "quarantine_inputs",
    metadata,
    Column("item_id", String(36), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("sealed", LargeBinary, nullable=False),  # the topic's value: sealed (ADR 0020)
)

actions_table = Table(
    "quarantine_actions",
    metadata,
    Column("item_id", String(36), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("by_organisation", String(50)),
    Column("by_user", String(250)),
    Column("at", String(40), nullable=False),
    Column("note", Text),  # the reason given for a dismissal
    Column("replays", Integer, nullable=False, default=0),
    Column("replay_errors", Text),  # JSON, redacted: why the last replay still failed
)

corrections_table = Table(
    "quarantine_corrections",
    metadata,
    Column("correction_id", String(36), primary_key=True),
    Column("item_id", String(36), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("by_organisation", String(50)),
    Column("by_user", String(250), nullable=False),
    Column("why", Text, nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # the corrected copy, sealed like the input
    Column("key_ids", Text, nullable=False, default="[]"),  # JSON: the keys it is sealed with
)

FOLDED: Final = (items_table, inputs_table)
RECORDED: Final = (actions_table, corrections_table)
