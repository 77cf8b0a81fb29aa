"""The hand-over of opened case-events between the worker's two stages (ADR 0049): taken once,
by their bytes, and only in the key cache's generation they were opened in."""

from __future__ import annotations

from hub.erasure.handoff import OpenedEntries
from tests.builders import missed


class Generation:
    """The key cache's generation as the test moves it (None: the cache is off)."""

    def __init__(self) -> None:
        self.value: int | None = 1

    def __call__(self) -> int | None:
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_opened_event_is_taken_once_by_its_bytes() -> None:
    opened = OpenedEntries(Generation())
    first, second = missed("APT-1"), missed("APT-2")
    opened.keep(opened.generation(), [(b"one", first), (b"two", second)])
    assert opened.take([b"other", b"two", b"one"]) == {1: second, 2: first}
    assert opened.take([b"one", b"two"]) == {}  # taken: a redelivery opens them anew
    assert opened.held == 0


def test_nothing_is_kept_if_the_cache_moved_while_the_batch_was_opened() -> None:
    generation = Generation()
    opened = OpenedEntries(generation)
    before = opened.generation()  # read before the batch's keys were
    generation.value = 2  # an erasure learnt of meanwhile: its keys may be destroyed
    opened.keep(before, [(b"one", missed("APT-1"))])
    assert opened.held == 0
    assert opened.take([b"one"]) == {}


def test_nothing_kept_is_taken_once_the_cache_has_moved() -> None:
    generation = Generation()
    opened = OpenedEntries(generation)
    opened.keep(opened.generation(), [(b"one", missed("APT-1"))])
    generation.value = 2  # the family reader's batch read an epoch that moved
    assert opened.take([b"one"]) == {}
    assert opened.held == 0  # and forgotten, not just passed over
    generation.value = 1  # even back at the old generation (a restored key store)
    assert opened.take([b"one"]) == {}


def test_with_the_key_cache_off_nothing_is_handed_over() -> None:
    generation = Generation()
    generation.value = None
    opened = OpenedEntries(generation)
    opened.keep(opened.generation(), [(b"one", missed("APT-1"))])
    assert opened.held == 0
    assert opened.take([b"one"]) == {}


def test_what_no_reader_takes_is_forgotten_oldest_first_and_in_time() -> None:
    clock = Clock()
    opened = OpenedEntries(Generation(), max_entries=2, max_age_s=10.0, clock=clock)
    opened.keep(1, [(b"one", missed("APT-1")), (b"two", missed("APT-2"))])
    opened.keep(1, [(b"three", missed("APT-3"))])
    assert opened.held == 2
    assert set(opened.take([b"one", b"two", b"three"])) == {1, 2}
    opened.keep(1, [(b"four", missed("APT-4"))])
    clock.now += 10.0
    assert opened.take([b"four"]) == {}
    assert opened.held == 0


def test_an_erasure_learnt_of_forgets_every_kept_event() -> None:
    opened = OpenedEntries(Generation())
    opened.keep(1, [(b"one", missed("APT-1"))])
    opened.clear()
    assert opened.held == 0
    assert opened.take([b"one"]) == {}
