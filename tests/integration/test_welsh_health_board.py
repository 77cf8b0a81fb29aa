"""Aneurin Bevan University Health Board (7A6) over MLLP against the real broker: HL7 v2.3.1
from its source file alone (config/sources/demo-abuhb-maternity.toml) — a Welsh-speaking
mother, her newborn registered by PAS number before the NHS number is issued and linked when
it arrives, a v2.3.1 A39 merge and a missed antenatal appointment — then the person index
built from what Kafka holds, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import Engine

from hub.identity.store import IdentityStore
from hub.payloads import PersonRegistered
from hub.settings import Settings
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process
from tests.support.topics import read_case_events

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hl7v2"
PAS = "https://fhir.abuhb.nhs.wales/Id/pas-identifier"
MOTHER_NHS, BABY_NHS = "9434765870", "4823426819"


@pytest.fixture
def board(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    settings = make_settings(mllp_port=free_port())
    with hub_process("mllp", settings, tmp_path) as process:
        eventually(
            lambda: listening(settings.mllp_port),
            timeout_s=60,
            what="the MLLP listener",
            log=tmp_path / "mllp.log",
        )
        yield settings, process


def _send(client: MLLPClient, name: str) -> str:
    reply = client.send_message((GOLDEN / f"{name}.input.hl7").read_bytes())
    ack = hl7.parse(reply.decode("utf-8") if isinstance(reply, bytes) else reply)
    return str(ack.segment("MSA")(1))


def test_newborn_registered_before_its_nhs_number_is_linked_when_it_arrives(
    board: tuple[Settings, subprocess.Popen[bytes]], sql_engine: Engine
) -> None:
    settings, _ = board
    story = [
        "abuhb-adt-a28-mother-welsh-speaking",
        "abuhb-adt-a28-newborn-before-nhs-number",
        "abuhb-adt-a31-newborn-nhs-number-arrives",
        "abuhb-adt-a39-merge-person",
        "abuhb-siu-s26-missed-antenatal",
        "abuhb-error-no-known-identifier",
    ]
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        codes = [_send(client, name) for name in story]
    assert codes == ["AA", "AA", "AA", "AA", "AA", "AE"]

    # Kafka orders a partition, not the topic (each subject has its own key): the story's order
    # is when each thing happened.
    events = sorted(read_case_events(settings, expect=7), key=lambda e: e.occurred_at)
    assert len(events) == 7
    assert {e.source.organisation_code for e in events} == {"7A6"}
    registered = [
        (e.subject_key(), e.payload.language)
        for e in events
        if isinstance(e.payload, PersonRegistered)
    ]
    assert registered == [
        (MOTHER_NHS, "cy"),
        (f"{PAS}|G7A600114", "cy"),  # the newborn, known by its PAS number alone
        (BABY_NHS, "cy"),
    ]

    index = IdentityStore(sql_engine)
    for offset, event in enumerate(events):
        index.apply(settings.case_events_topic, 0, offset, event)
    baby = index.person_of(f"{PAS}|G7A600114")
    assert baby is not None
    assert index.person_of(BABY_NHS) == baby  # linked when the NHS number arrived
    mother = index.person_of(MOTHER_NHS)
    assert mother not in (None, baby)
    assert index.person_of(f"{PAS}|G7A600093") == mother  # the A39's merged record
