"""The pure decisions of outgoing pushes: who is sent what, in which order, signed how."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from standardwebhooks import Webhook

from hub.alerts.changes import Change
from hub.alerts.state import Alert, Person
from hub.alerts.store import AlertView
from hub.events import utc_now
from hub.http.stream import start_after
from hub.services.alert_release import alert_out
from hub.sharing.policy import Recipient
from hub.subscriptions.rules import (
    Step,
    body_of,
    by_family,
    family_step,
    held_reason,
    next_cursor,
    retry_at,
    signed_headers,
    sse_event,
    wants,
)
from hub.subscriptions.store import new_secret
from tests.builders import NHS_NUMBER, T0, appointment, refs

ALERT = Alert(
    alert_id=uuid.uuid4(),
    subject_key=NHS_NUMBER,
    subject=(),
    appointment=appointment("APT-1"),
    missed_at=T0,
    raised_at=T0,
    source_system="test-pas",
    organisation_code="R0A",
    source_event_id=uuid.uuid4(),
    recipients=refs("mw-1") | refs("kw-1", organisation_code="VCS-HOMESTART-SALFORD"),
    escalated_to=refs("r0a-named-midwife-safeguarding"),
)


def change(seq: int, family: str = "fam-a", kind: str = "raised") -> Change:
    return Change(
        seq=seq,
        change_id=f"chg_{seq}",
        alert_id=ALERT.alert_id,
        family_key=family,
        change=kind,
        recorded_at=T0 + timedelta(seconds=seq),
    )


def test_a_person_is_sent_the_alerts_addressed_to_her_including_escalations() -> None:
    assert wants(Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1"), ALERT)
    assert wants(Recipient("R0A", "SAFEGUARDING_MIDWIFE", "r0a-named-midwife-safeguarding"), ALERT)
    assert not wants(Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-2"), ALERT)
    assert wants(Recipient("VCS-HOMESTART-SALFORD", "KEY_WORKER", "kw-1"), ALERT)
    # Addressing is by (organisation, user): the same user id at another organisation is
    # somebody else, and is not sent it.
    assert not wants(Recipient("355", "SOCIAL_WORKER", "kw-1"), ALERT)
    assert not wants(Recipient("R0A", "KEY_WORKER", "kw-1"), ALERT)


def test_an_organisations_system_is_sent_the_alerts_its_organisation_controls() -> None:
    assert wants(Recipient("R0A", "PARTNER_SYSTEM", "r0a-epr"), ALERT)
    assert not wants(Recipient("RM3", "PARTNER_SYSTEM", "rm3-epr"), ALERT)


def test_changes_are_grouped_per_family_in_sequence_order() -> None:
    families = by_family([change(5, "b"), change(2, "a"), change(3, "b"), change(1, "a")])
    assert {k: [c.seq for c in v] for k, v in families.items()} == {"a": [1, 2], "b": [3, 5]}


def test_a_familys_later_change_is_held_behind_its_dead_letter() -> None:
    assert family_step(None) is Step.DELIVER
    assert family_step("chg_1") is Step.HOLD
    assert "chg_1" in held_reason("chg_1")


def test_the_cursor_moves_past_the_batch_unless_a_family_stopped() -> None:
    batch = [change(4), change(5, "b"), change(7)]
    assert next_cursor(3, batch, []) == 7
    assert next_cursor(3, batch, [5]) == 4  # read again from the stopped change
    assert next_cursor(3, batch, [7, 5]) == 4
    assert next_cursor(3, [], []) == 3
    assert next_cursor(9, batch, [4]) == 9  # never backwards


def test_the_message_is_signed_the_standard_webhooks_way() -> None:
    secret = new_secret()
    shown = alert_out(AlertView(ALERT, Person(NHS_NUMBER)), with_person=False)
    body = body_of(change(3, kind="escalated"), shown)
    headers = signed_headers(secret, "chg_3", utc_now(), body)  # verify() checks the time
    assert headers["webhook-id"] == "chg_3"
    assert headers["webhook-signature"].startswith("v1,")
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "alert.escalated"
    assert payload["data"]["sequence"] == 3
    assert payload["data"]["alert"]["alert_id"] == str(ALERT.alert_id)
    assert payload["data"]["alert"]["person"] is None
    assert json.loads(body) == payload


def test_a_server_sent_event_carries_the_sequence_as_its_id() -> None:
    shown = alert_out(AlertView(ALERT, Person(NHS_NUMBER)), with_person=True)
    text = sse_event(change(42), shown)
    lines = text.split("\n")
    assert lines[0] == "id: 42"
    assert lines[1] == "event: alert.raised"
    assert json.loads(lines[2].removeprefix("data: "))["data"]["change_id"] == "chg_42"
    assert text.endswith("\n\n")


def test_a_stream_resumes_after_last_event_id_or_starts_from_now() -> None:
    assert start_after("17", 99) == 17
    assert start_after(None, 99) == 99
    assert start_after("not-a-number", 99) == 99
    assert start_after("٣", 99) == 99  # a digit, but not a seq
    assert start_after("9" * 40, 99) == 99  # past any seq (and SQL's integers)


def test_retry_at_follows_the_schedule_then_gives_up() -> None:
    schedule = [5.0, 300.0, 1800.0]
    assert retry_at(1, T0, schedule) == T0 + timedelta(seconds=5)
    assert retry_at(3, T0, schedule) == T0 + timedelta(minutes=30)
    assert retry_at(4, T0, schedule) is None  # used up: the change is dead-lettered
    assert retry_at(1, T0, []) is None  # no schedule: one attempt only
