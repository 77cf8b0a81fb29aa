"""Disclosures and quarantined input are sealed with the keys of the people they name, and
erasing any of them makes the record unreadable (ADR 0020)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hub.disclosures import Channel, DisclosedItem, Disclosure, without_subject
from hub.erasure.keystore import ErasureInProgressError, SubjectKeyStore
from hub.erasure.sealing import (
    UnsealError,
    erasure_marker,
    new_key,
    seal_record,
    unseal_record,
)
from hub.events import utc_now
from hub.ingest.records import disclosure_log, quarantine_log
from hub.kafka.codec import DecodeError
from hub.quarantine import quarantine_record
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from hub.vocabulary import DataCategory, LawfulBasis, Purpose
from tests.builders import NHS_NUMBER

OTHER = "9876543210"
NAME = "Zelphina"


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[SubjectKeyStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    store = SubjectKeyStore(engine, LocalKek.generate())
    store.create_schema()
    yield store
    engine.dispose()


def disclosure(subject: str = NHS_NUMBER) -> Disclosure:
    return Disclosure(
        disclosure_id=uuid.uuid4(),
        disclosed_at=utc_now(),
        channel=Channel.API,
        recipient_organisation="355",
        recipient_role="SOCIAL_WORKER",
        recipient_user="sw-7",
        subject_key=subject,
        family_key="family-1",
        purpose=Purpose.DIRECT_CARE,
        items=(
            DisclosedItem(
                category=DataCategory.DEMOGRAPHICS, controller="R0A", basis=LawfulBasis.PUBLIC_TASK
            ),
        ),
        agreement_version="1",
        reference=f"/people/{subject}/team",
    )


def test_a_record_sealed_with_several_keys_needs_every_one() -> None:
    mother, baby = new_key(), new_key()
    sealed = seal_record([baby, mother], "q-1", b"PID|" + NAME.encode())
    assert NAME.encode() not in sealed.body
    assert sealed.key_ids == tuple(sorted((mother.key_id, baby.key_id)))
    secrets = [k.secret for k in sorted((mother, baby), key=lambda k: k.key_id)]
    assert unseal_record(secrets, sealed) == b"PID|" + NAME.encode()
    for wrong in ([secrets[0]], [secrets[0], new_key().secret], [new_key().secret] * 2):
        with pytest.raises(UnsealError):
            unseal_record(wrong, sealed)
    with pytest.raises(UnsealError):  # the record id is bound to the ciphertext
        unseal_record(secrets, replace(sealed, record_id="q-2"))


def test_the_disclosure_log_names_nobody_and_is_gone_with_the_key(keys: SubjectKeyStore) -> None:
    log = disclosure_log(keys, "disclosures")
    record = disclosure()
    kafka_key, value = log.encode(record)
    assert kafka_key == keys.key_for(NHS_NUMBER).key_id.encode()  # her records in order
    assert NHS_NUMBER.encode() not in kafka_key + value
    assert log.decode(value) == record
    keys.shred([NHS_NUMBER], utc_now())
    assert log.decode(value) is None


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (f"PID|1||{NHS_NUMBER}^^^NHS^NH||{NAME}^Q".encode(), (NHS_NUMBER,)),
        (
            f'{{"identifier": [{{"value": "943 476 5919"}}], "name": "{NAME}"}}'.encode(),
            (NHS_NUMBER,),
        ),
        (f"nhs_number,name\n{NHS_NUMBER},{NAME}\n{OTHER},Baby\n".encode(), (NHS_NUMBER, OTHER)),
    ],
)
def test_quarantined_input_is_sealed_with_every_person_it_names(
    keys: SubjectKeyStore, raw: bytes, names: tuple[str, ...]
) -> None:
    log = quarantine_log(keys, "quarantine")
    record = quarantine_record(raw, channel="mllp", reason="refused")
    _, value = log.encode(record)
    assert NAME.encode() not in value
    assert all(n.encode() not in value for n in names)
    assert log.decode(value) == record
    keys.shred([names[-1]], utc_now())  # erasing any one of them
    assert log.decode(value) is None


def test_input_that_names_no_one_is_kept_in_clear(keys: SubjectKeyStore) -> None:
    log = quarantine_log(keys, "quarantine")
    record = quarantine_record(b"\x0bnot HL7 at all\x1c\r", channel="mllp", reason="unparseable")
    _, value = log.encode(record)
    assert b"not HL7 at all" in value
    assert log.decode(value) == record


def test_a_number_in_the_reason_is_a_person_named_too(keys: SubjectKeyStore) -> None:
    log = quarantine_log(keys, "quarantine")
    record = quarantine_record(b"{}", channel="fhir", reason=f"{NHS_NUMBER} is unknown here")
    _, value = log.encode(record)
    assert NHS_NUMBER.encode() not in value


def test_a_record_sealed_with_a_key_this_store_never_held_is_refused(
    keys: SubjectKeyStore, tmp_path: Path
) -> None:
    _, value = disclosure_log(keys, "disclosures").encode(disclosure())
    other = SubjectKeyStore(
        make_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}"), LocalKek.generate()
    )
    with pytest.raises(DecodeError, match="no key"):
        disclosure_log(other, "disclosures").decode(value)
    with pytest.raises(DecodeError):
        disclosure_log(keys, "disclosures").decode(b"\xc3\x01 garbage")


def test_an_erased_persons_disclosure_is_kept_without_them() -> None:
    erasure_id = uuid.uuid4()
    kept = without_subject(disclosure(), erasure_id)
    assert kept.subject_key == f"erased:{erasure_id}"
    assert kept.family_key is None
    assert NHS_NUMBER not in kept.model_dump_json()
    assert kept.reference == "/people/<person>/team"
    assert kept.items == disclosure().items


def test_nothing_is_sealed_for_a_person_while_their_erasure_is_applied(
    keys: SubjectKeyStore,
) -> None:
    log = disclosure_log(keys, "disclosures")
    keys.key_for(NHS_NUMBER)
    [key_id] = keys.shred([NHS_NUMBER, "urn:council|P-1"], utc_now())  # her one key: destroyed
    for subject in (NHS_NUMBER, "urn:council|P-1"):
        with pytest.raises(ErasureInProgressError, match="send again later"):
            keys.key_for(subject)  # a new key would name her in the key store again
    with pytest.raises(ErasureInProgressError):
        log.encode(disclosure())
    marker = erasure_marker(key_id, uuid.uuid4(), utc_now(), "R0A/dpo-1", "Art. 17 request")
    keys.apply("family-events", 0, 0, marker)  # the projections have purged her rows
    assert keys.key_for(NHS_NUMBER).key_id != key_id  # a re-registration gets a new key


def test_a_batch_of_disclosures_decodes_as_one_at_a_time_does(keys: SubjectKeyStore) -> None:
    log = disclosure_log(keys, "disclosures")
    hers, his = disclosure(), disclosure(OTHER)
    values = [log.encode(hers)[1], b"\xc3\x01 garbage", log.encode(his)[1]]
    keys.shred([OTHER], utc_now())
    decoded = log.decode_many(values)
    assert decoded[0] == hers
    assert isinstance(decoded[1], DecodeError)
    assert decoded[2] is None  # his key was destroyed: erased with him
    assert log.decode_many([]) == []
