"""Webhook ids already published, per partner: replay protection for Standard Webhooks ingest.

A partner's system may deliver the same signed message twice (a retry after a lost 2xx); the
second is answered as the first was, and publishes nothing new.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from hub.events import utc_now
from hub.storage.schema import create_tables

MAX_ID_LENGTH: Final = 200
receipts_metadata = MetaData()
receipts_table = Table(
    "webhook_receipts",
    receipts_metadata,
    Column("organisation_code", String(100), primary_key=True),
    Column("message_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)
# Ids are remembered for twice the library's 5-minute timestamp tolerance: an older replay is
# refused by its timestamp, so the table stays small.
REMEMBER_IDS: Final = timedelta(minutes=10)


class Receipts:
    """Webhook ids already published, per partner (replay protection)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, receipts_metadata)

    def seen(self, organisation: str, message_id: str) -> bool:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(receipts_table.c.message_id).where(
                    receipts_table.c.organisation_code == organisation,
                    receipts_table.c.message_id == message_id,
                )
            ).first()
        return found is not None

    def remember(self, organisation: str, message_id: str) -> None:
        now = utc_now()
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    delete(receipts_table).where(receipts_table.c.received_at < now - REMEMBER_IDS)
                )
                connection.execute(
                    insert(receipts_table).values(
                        organisation_code=organisation, message_id=message_id, received_at=now
                    )
                )
        except IntegrityError:
            pass  # a concurrent delivery of the same id: both published the same event ids
