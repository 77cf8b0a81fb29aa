"""Per-partner Kafka topics: each alert as one partner may see it, compacted, in Avro.

For a partner that runs Kafka, the hub keeps a topic of its own —
``hub.partner.<client id>.alerts.v1`` — holding the latest state of every alert the partner's
registered client may see: key the alert id, value a ``PartnerAlert``
(``schemas/avro/partner_alert.avsc``, single-object encoded like every hub topic). The topic is
compacted, so a partner that starts from the beginning reads the current state, not history, and
has one partition, so the partner reads every change in the order the hub made them (a family's
changes included).

The relay (:meth:`PartnerTopics.run_once`, on the worker's timer) reads the alerts' change feed
after its cursor and, for each change, takes the same path as a webhook: the partner's client as
registered *now* (revoked: nothing more is written), :func:`hub.subscriptions.rules.wants`, then
:func:`hub.services.alert_release.release_alerts` — the sharing gate for that client *now*,
with the disclosure recorded (channel ``PARTNER_TOPIC``) before the record is produced. When a
change is withheld, or the alert was erased, and the partner was sent the alert before, a
tombstone goes out so that compaction removes the partner's copy. The cursor moves only after
the broker has acknowledged the record: at least once, and the record's ``change_id`` is the
idempotency key. One relay at a time (:class:`hub.storage.leases.Lease`, as for webhooks): during a
rebalance the old leader's run and the new leader's would otherwise both write (and disclose)
the same change.

Not done: a consent withdrawn *without* a later change of the alert does not by itself tombstone
what was already sent (as a webhook cannot be unsent); the next change of the alert does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from hub.alerts.changes import Change, changes_after
from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore
from hub.disclosures import Channel
from hub.events import utc_now
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import admin
from hub.kafka.codec import SingleObjectFraming, load_schema
from hub.kafka.publisher import KafkaPublisher
from hub.services.alert_release import AlertOut, release_alerts
from hub.services.release import SharingContext
from hub.settings import Settings
from hub.sharing.agreement import Agreement
from hub.sharing.policy import Recipient
from hub.storage.leases import Lease, uninterrupted
from hub.storage.positions import upsert
from hub.storage.schema import create_tables
from hub.subscriptions.rules import wants

log = logging.getLogger(__name__)

# The relay's own tables (created by :func:`make_partner_topics`), on no other store's metadata.
partner_topic_metadata = MetaData()

cursors = Table(
    "partner_topic_cursors",
    partner_topic_metadata,
    Column("client_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)
# Which alerts a partner holds a copy of: those need a tombstone when they are withheld later.
held = Table(
    "partner_topic_alerts",
    partner_topic_metadata,
    Column("client_id", String(64), primary_key=True),
    Column("alert_id", String(36), primary_key=True),
)


def topic_for(client_id: str) -> str:
    return f"hub.partner.{client_id}.alerts.v1"


def partner_record(alert: AlertOut, change: Change) -> dict[str, Any]:
    """The Avro datum of a released alert (pure: what the gate released, and the change)."""
    datum = alert.model_dump(mode="python")
    datum["status"] = alert.status.value
    # Version 1 of the schema had bare ids; the practitioners, as (organisation, id), beside them.
    datum["recipient_practitioners"] = datum.pop("recipients")
    datum["escalated_to_practitioners"] = datum.pop("escalated_to")
    datum["recipients"] = [p.practitioner_id for p in alert.recipients]
    datum["escalated_to"] = [p.practitioner_id for p in alert.escalated_to]
    for field in ("acknowledged_by", "closed_by"):
        who = getattr(alert, field)
        datum[field] = who.practitioner_id if who else None
        datum[f"{field}_organisation"] = who.organisation_code if who else None
    datum["change"], datum["change_id"] = change.change, change.change_id
    return datum


@dataclass
class RelayReport:
    written: int = 0
    tombstones: int = 0
    skipped: int = 0
    not_leaseholder: bool = False  # another relay was at it: this run wrote nothing


class PartnerTopics:
    """The relay from the change feed to each configured partner's topic."""

    def __init__(
        self,
        client_ids: Sequence[str],
        alerts: MissedAppointmentStore,
        clients: ClientStore,
        context: SharingContext,
        publisher: KafkaPublisher,
    ) -> None:
        self._client_ids = list(client_ids)
        self._alerts, self._clients, self._context = alerts, clients, context
        self._publisher = publisher
        self._engine: Engine = alerts.engine
        self._framing = SingleObjectFraming(load_schema("partner_alert"))
        self._lease = Lease(self._engine, "partner-topics")

    def create_topics(self, bootstrap_servers: str, replication_factor: int = 1) -> None:
        """Each partner's topic, compacted, one partition (see the module docstring)."""
        client = admin(bootstrap_servers)
        existing = set(client.list_topics(timeout=30).topics)
        wanted = [
            NewTopic(
                topic_for(client_id),
                num_partitions=1,
                replication_factor=replication_factor,
                config={"cleanup.policy": "compact"},
            )
            for client_id in self._client_ids
            if topic_for(client_id) not in existing
        ]
        for future in client.create_topics(wanted, request_timeout=30).values() if wanted else ():
            future.result()

    async def run_once(self) -> RelayReport:
        report = RelayReport()
        if not self._lease.take(utc_now()):
            report.not_leaseholder = True
            return report
        try:
            for client_id in self._client_ids:
                await self._relay(client_id, report)
        finally:
            self._lease.give_up()
        return report

    async def _relay(self, client_id: str, report: RelayReport) -> None:
        client = self._clients.live_client(client_id)
        if client is None:
            log.warning(
                "partner topic: client %s is unknown or revoked; nothing written", client_id
            )
            return
        recipient, topic = client.recipient(), topic_for(client_id)
        for change in changes_after(self._engine, self._cursor(client_id)):
            if not self._lease.renew(utc_now()):
                log.warning("partner topics: another relay took over; stopping")
                return
            await uninterrupted(self._one(client_id, recipient, topic, change, report))

    async def _one(
        self, client_id: str, recipient: Recipient, topic: str, change: Change, report: RelayReport
    ) -> None:
        """One change: gate and record, write (or tombstone), then move the cursor past it."""
        view = self._alerts.alert(change.alert_id)
        shown: list[AlertOut] = []
        if view is not None and wants(recipient, view.alert):
            shown = await release_alerts(
                self._context,
                recipient,
                [view],
                channel=Channel.PARTNER_TOPIC,
                reference=f"partner topic {topic} change {change.change_id}",
            )
        key = str(change.alert_id).encode("ascii")
        if shown:
            value = self._framing.encode(partner_record(shown[0], change))
            await self._publisher.publish(topic, key, value, {"change-id": _id(change)})
            self._hold(client_id, change, holding=True)
            report.written += 1
        elif self._holds(client_id, change):
            await self._publisher.publish(topic, key, None, {"change-id": _id(change)})
            self._hold(client_id, change, holding=False)
            report.tombstones += 1
        else:
            report.skipped += 1
        self._advance(client_id, change.seq)

    def _cursor(self, client_id: str) -> int:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(cursors.c.seq).where(cursors.c.client_id == client_id)
            ).scalar_one_or_none()
        return int(found or 0)

    def _advance(self, client_id: str, seq: int) -> None:
        with self._engine.begin() as connection:
            upsert(connection, cursors, {"client_id": client_id}, {"seq": seq})

    def _holds(self, client_id: str, change: Change) -> bool:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(held.c.alert_id).where(
                    (held.c.client_id == client_id) & (held.c.alert_id == str(change.alert_id))
                )
            ).first()
        return row is not None

    def _hold(self, client_id: str, change: Change, *, holding: bool) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                delete(held).where(
                    (held.c.client_id == client_id) & (held.c.alert_id == str(change.alert_id))
                )
            )
            if holding:
                connection.execute(
                    insert(held).values(client_id=client_id, alert_id=str(change.alert_id))
                )


def make_partner_topics(
    settings: Settings,
    alerts: MissedAppointmentStore,
    sink: CaseEventSink,
    agreement: Agreement,
    publisher: KafkaPublisher,
) -> PartnerTopics:
    """The worker's relay on the hub's database, its partners' topics created if missing."""
    engine = alerts.engine
    clients = ClientStore(engine)
    clients.create_schema()
    create_tables(engine, cursors, held)
    context = SharingContext.on_engine(agreement, engine, sink)
    relay = PartnerTopics(settings.partner_topic_clients, alerts, clients, context, publisher)
    relay.create_topics(settings.bootstrap_servers(), settings.topic_replication_factor)
    return relay


def _id(change: Change) -> bytes:
    return change.change_id.encode("ascii")
