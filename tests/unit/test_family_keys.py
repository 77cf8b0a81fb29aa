"""The person index's bulk family lookup answers as the one-identifier lookup does, for the
family topic's forward of a batch (hub/identity/routing.py, issue 19)."""

from __future__ import annotations

from pathlib import Path

from hub.identity.families import family_key_for
from hub.identity.store import IdentityStore
from hub.storage.engine import make_engine
from tests.builders import NHS_NUMBER, registered
from tests.team_builders import UNBORN_KEY, expecting, mother_registered

ALONE = "9876543210"


def test_the_families_of_many_identifiers_are_read_at_once_as_one_by_one(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    identity = IdentityStore(engine)
    identity.create_schema()
    try:
        story = [mother_registered(), expecting(), registered("Bo", nhs_number=ALONE)]
        for offset, event in enumerate(story):
            identity.apply("case-events", 0, offset, event)
        mother = identity.person_of(NHS_NUMBER)
        alone = identity.person_of(ALONE)
        assert mother is not None
        assert alone is not None
        wanted = [NHS_NUMBER, UNBORN_KEY, ALONE, "nobody|known"]
        one_by_one = {k: f for k in wanted if (f := identity.family_key_of(k)) is not None}

        assert identity.family_keys_of(wanted) == one_by_one
        assert one_by_one == {
            NHS_NUMBER: family_key_for(mother),  # her family, and her unborn child's
            UNBORN_KEY: family_key_for(mother),
            ALONE: family_key_for(alone),  # the family that would form around him
        }
        assert identity.family_keys_of([]) == {}
    finally:
        engine.dispose()
