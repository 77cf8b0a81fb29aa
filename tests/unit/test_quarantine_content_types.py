"""What a refused record keeps in its content type so the error queue can read its raw bytes
again on their own (ADR 0030): a CSV row its columns, a webhook body its ``webhook-id``."""

from __future__ import annotations

from hub.connectors.outcomes import Refused
from hub.connectors.partners import webhook_record
from hub.connectors.runtime import refusal_record
from hub.connectors.sdk import (
    Record,
    csv_row_columns,
    csv_row_type,
    webhook_message_id,
    webhook_type,
)


def test_a_csv_row_keeps_its_columns_and_nothing_else_reads_as_one() -> None:
    columns = ("Child ID", "Episode start date", "Legal status")
    kept = csv_row_type(columns)
    assert kept == 'text/csv; header="absent"; columns="Child ID,Episode start date,Legal status"'
    assert csv_row_columns(kept) == columns
    assert webhook_message_id(kept) is None
    assert csv_row_columns("text/csv") is None
    assert csv_row_columns(None) is None


def test_a_column_name_may_hold_a_comma_or_a_quote() -> None:
    columns = ("Child ID", "Reason, if ceased", 'Carer "main"', "")
    assert csv_row_columns(csv_row_type(columns)) == columns


def test_a_refused_webhook_keeps_the_id_its_key_falls_back_to() -> None:
    body = b'{"type": "session_missed", "data": "not an object"}'
    record = webhook_record(body, 'msg_"42"')
    assert record.key == 'msg_"42"'  # no fields: the key is the webhook-id, not in the body
    kept = refusal_record(
        Refused(record, (("data", "missing"),)), channel="webhook", system="homestart"
    )
    assert kept.content_type == webhook_type('msg_"42"')
    assert webhook_message_id(kept.content_type) == 'msg_"42"'
    assert csv_row_columns(kept.content_type) is None
    assert webhook_record(kept.raw, 'msg_"42"') == record


def test_a_refused_csv_row_keeps_its_header() -> None:
    row = Record("lac.csv:3", "NP-1002", b"NP-1002,V2\r\n", {}, ("Child ID", "Legal status"))
    kept = refusal_record(Refused(row, (("Legal status", "bad"),)), channel="extract", system="x")
    assert csv_row_columns(kept.content_type) == ("Child ID", "Legal status")
